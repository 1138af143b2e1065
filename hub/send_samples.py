"""`hub send-samples`: post the bundled sample calls, re-dated and signed, to a running hub."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests

from hub.config import HubConfig
from hub.redate import redate
from hub.runtime import load_hub_config
from hub.samples import payload_files, request_from_bytes
from hub.settings import Settings
from webhooks import registry
from webhooks.base import SourceSettings

SAMPLES = Path(__file__).resolve().parent / "sample_calls"


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
            results.lines.append(
                f"{source.id:<14} {path.name:<48} HTTP {response.status_code} {response.text.strip()[:80]}"
            )
    if not results.lines:
        results.lines.append("no sample calls for the configured sources")
    return results
