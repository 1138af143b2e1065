"""`hub send-samples`: post the bundled sample calls, re-dated and signed, to a running hub.

Without --url it finds the `hub run` serving from this data directory (its URL is published
there) and signs with the same secrets, generated ones included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests

from hub import run_info
from hub.config import HubConfig
from hub.redate import redate
from hub.runtime import load_hub_config
from hub.samples import payload_files, request_from_bytes
from hub.settings import Settings
from webhooks import registry
from webhooks.base import SourceSettings

SAMPLES = Path(__file__).resolve().parent / "sample_calls"


class NoHubFound(Exception):
    """No URL given and no `hub run` is serving from this data directory."""


def hub_url(settings: Settings, given: str | None) -> str:
    """The URL to post to: --url, else the one the running `hub run` published."""
    if given:
        return given.rstrip("/")
    info = run_info.running(settings.data_dir)
    if info is None or not info.url:
        raise NoHubFound(
            f"no `hub run` is serving from {settings.data_dir}; start one, or pass --url http://HOST:PORT "
            "with HUB_DATA_DIR (generated secrets) or HUB_SECRET_<SOURCE> matching that hub"
        )
    return info.url.rstrip("/")


def _answer(response: requests.Response, settings: Settings, source_id: str) -> str:
    """The hub's answer in full when it refused; with what to do about a signature refusal."""
    if response.status_code < 300:
        return f"HTTP {response.status_code}"
    try:
        body = response.json()
        detail = f"{body.get('error', '')}: {body.get('message', '')}".strip(": ")
    except ValueError:
        detail = response.text.strip()
    line = f"HTTP {response.status_code} {detail}"
    if response.status_code == 401:
        line += (
            f"\n    the hub does not accept this source's secret: run send-samples with the hub's "
            f"HUB_DATA_DIR (now {settings.data_dir}) or set HUB_SECRET_{source_id.upper()} as the hub has it"
        )
    return line


@dataclass
class SendResults:
    lines: list[str] = field(default_factory=list)
    ok: bool = True


def send_samples(settings: Settings, hub_url: str, sources: list[str] | None = None) -> SendResults:
    config: HubConfig = load_hub_config(settings)
    results = SendResults()
    session = requests.Session()
    session.trust_env = False
    for source in config.sources.values():
        folder = SAMPLES / source.provider
        if (sources and source.id not in sources) or not folder.is_dir():
            continue
        provider = registry.create(
            source.provider,
            SourceSettings(source.id, source.default_region, dict(source.options)),
            settings.mappings_dir,
        )
        for path in payload_files(folder):
            now = datetime.now(UTC)
            payload = redate(path.read_bytes(), path.suffix == ".form")
            request = request_from_bytes(path.name, payload, f"{hub_url}/webhooks/{source.id}", now)
            if source.secrets:
                request = provider.sign(request, source.secrets[0].reveal(), now)
            try:
                response = session.request(
                    request.method, request.url, data=request.body, headers=dict(request.headers), timeout=10
                )
            except requests.RequestException as exc:
                results.ok = False
                results.lines.append(f"{source.id:<14} {path.name:<48} cannot reach {hub_url}: {exc}")
                return results
            results.ok &= response.status_code < 300
            results.lines.append(f"{source.id:<14} {path.name:<48} {_answer(response, settings, source.id)}")
    if not results.lines:
        results.lines.append("no sample calls for the configured sources")
    return results
