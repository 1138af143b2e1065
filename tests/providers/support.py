"""Shared plumbing of the provider contract suite, and the writer of `*.expected.json` snapshots.

Every folder in tests/fixtures/providers/ is a provider slug; every provider the registry knows
(built-in module or `mappings/providers/<slug>.yaml`) must have one. Each payload fixture has a
`<name>.expected.json` beside it: the normalized events for source id = slug, default region US,
received at 2026-01-01T00:00:00Z.

Write or refresh snapshots, then read every changed one against its payload:

    .venv/bin/python -m tests.providers.support <slug> [<slug>...]
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    return payload_files(FIXTURES / slug)


def expected_path(payload: Path) -> Path:
    return payload.with_name(f"{payload.stem}.expected.json")


def normalized(slug: str, request: InboundRequest) -> list[dict[str, Any]]:
    """The events as JSON would carry them (a round trip drops tuples and Decimals)."""
    events = make_provider(slug).normalize(request)
    loaded: list[dict[str, Any]] = json.loads(json.dumps([dump_event(event) for event in events]))
    return loaded


def render(events: list[dict[str, Any]]) -> str:
    return json.dumps(events, indent=2, ensure_ascii=False) + "\n"


def write_expected(slug: str) -> list[Path]:
    written = []
    for payload in payloads(slug):
        target = expected_path(payload)
        text = render(normalized(slug, fixture_request(slug, payload)))
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
