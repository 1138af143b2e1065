"""Shared plumbing of the provider contract suite, and the writer of `*.expected.json` snapshots.

Every folder in tests/fixtures/providers/ is a provider slug; every provider the registry knows
(built-in module or `mappings/providers/<slug>.yaml`) must have one. Its `published/` folder holds
payloads published by others (provider docs, SDKs, integrations; `SOURCES.md` says where from).
Each payload fixture has a `<name>.expected.json` beside it: the normalized events for source
id = slug, default region US, received at 2026-01-01T00:00:00Z, or `{"ignored": "<why>"}` for a
payload that is not a call (the provider must raise NotACall).

Write or refresh snapshots, then read every changed one against its payload:

    .venv/bin/python -m tests.providers.support <slug> [<slug>...]
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.core.errors import NotACall
from hub.core.events import dump_event
from hub.samples import payload_files, request_from_file
from webhooks import registry
from webhooks.base import InboundRequest, Provider, SourceSettings

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "providers"
MAPPINGS = ROOT / "mappings"
RECEIVED_AT = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_REGION = "US"


def fixture_slugs() -> list[str]:
    return sorted(path.name for path in FIXTURES.iterdir() if path.is_dir())


def provider_slugs() -> list[str]:
    return registry.available(MAPPINGS)


def make_provider(slug: str, **options: Any) -> Provider:
    return registry.create(slug, SourceSettings(slug, DEFAULT_REGION, options), MAPPINGS)


def hub_url(slug: str) -> str:
    """The public URL a source of this provider is reached at (what the provider signs)."""
    return f"https://hub.example.com/webhooks/{slug}"


def fixture_request(slug: str, path: Path) -> InboundRequest:
    return request_from_file(path, hub_url(slug), RECEIVED_AT)


def payloads(slug: str) -> list[Path]:
    """The provider's own fixtures, then the payloads published by others."""
    published = FIXTURES / slug / "published"
    return payload_files(FIXTURES / slug) + (payload_files(published) if published.is_dir() else [])


def expected_path(payload: Path) -> Path:
    return payload.with_name(f"{payload.stem}.expected.json")


def normalized(slug: str, request: InboundRequest) -> list[dict[str, Any]]:
    """The events as JSON would carry them (a round trip drops tuples and Decimals)."""
    events = make_provider(slug).normalize(request)
    loaded: list[dict[str, Any]] = json.loads(json.dumps([dump_event(event) for event in events]))
    return loaded


def outcome(slug: str, request: InboundRequest) -> list[dict[str, Any]] | dict[str, Any]:
    """What the hub makes of a payload: its events, or `{"ignored": why}` for one that is not a call."""
    try:
        return normalized(slug, request)
    except NotACall as exc:
        return {"ignored": exc.message}


def matches(actual: list[dict[str, Any]] | dict[str, Any], expected: Any) -> bool:
    """An ignored payload matches any ignored expectation (its wording is the reviewer's note)."""
    if isinstance(expected, dict) and "ignored" in expected:
        return isinstance(actual, dict) and "ignored" in actual
    return actual == expected


def render(events: list[dict[str, Any]] | dict[str, Any]) -> str:
    return json.dumps(events, indent=2, ensure_ascii=False) + "\n"


def write_expected(slug: str) -> list[Path]:
    written = []
    for payload in payloads(slug):
        target = expected_path(payload)
        result = outcome(slug, fixture_request(slug, payload))
        kept = target.exists() and matches(result, json.loads(target.read_text(encoding="utf-8")))
        if kept and isinstance(result, dict):
            continue  # keep the reviewer's wording of why it is not a call
        text = render(result)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            written.append(target)
    return written


def main(argv: list[str]) -> int:
    slugs = argv or fixture_slugs()
    for slug in slugs:
        for path in write_expected(slug):
            print(f"wrote {path.relative_to(ROOT)}: read it against its payload")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
