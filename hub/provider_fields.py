"""Which normalized fields each provider fills, measured on payload files (`hub providers`).

Admins choose a call-tracking source partly for the attribution it can hand to GA4 and the
CRMs; this table says, per provider, in how many of its sample payloads each field is filled.
It is computed, never written by hand: the docs hold the table for the project's fixtures
(tests/fixtures/providers, published payloads included) and a test keeps them in step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hub.core.errors import HubError, NotACall
from hub.core.events import CallEvent
from hub.samples import payload_files, request_from_file
from webhooks import registry
from webhooks.base import SourceSettings

#: Column title -> what counts as filled.
FIELDS: dict[str, Callable[[CallEvent], object]] = {
    "caller number": lambda e: e.caller.number,
    "caller name": lambda e: e.caller.name,
    "start time": lambda e: e.call.started_at,
    "end time": lambda e: e.call.ended_at,
    "duration": lambda e: e.call.duration_s,
    "gclid": lambda e: e.attribution.gclid or e.attribution.gbraid or e.attribution.wbraid,
    "GA client id": lambda e: e.attribution.ga_client_id,
    "GA session id": lambda e: e.attribution.ga_session_id,
    "keyword": lambda e: e.attribution.keyword,
    "landing page": lambda e: e.attribution.landing_page,
    "outcome": lambda e: (
        e.outcome.qualified if e.outcome.qualified is not None else e.outcome.lead_status or e.outcome.value
    ),
}
_RECEIVED_AT = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ProviderFields:
    """One provider's row: how many call payloads were read and how many filled each field."""

    slug: str
    calls: int
    ignored: int
    failed: int
    filled: dict[str, int]


def measure(slug: str, folder: Path, mappings_dir: Path) -> ProviderFields:
    """Normalize every payload in `folder` (and its `published/` folder) as provider `slug`."""
    provider = registry.create(slug, SourceSettings(slug, "US", {}), mappings_dir)
    paths = payload_files(folder)
    if (folder / "published").is_dir():
        paths += payload_files(folder / "published")
    calls = ignored = failed = 0
    filled = dict.fromkeys(FIELDS, 0)
    for path in paths:
        try:
            events = provider.normalize(
                request_from_file(path, f"https://hub.example/webhooks/{slug}", _RECEIVED_AT)
            )
        except NotACall:
            ignored += 1
            continue
        except HubError:
            failed += 1
            continue
        calls += 1
        for title, read in FIELDS.items():
            filled[title] += any(read(event) not in (None, "") for event in events)
    return ProviderFields(slug, calls, ignored, failed, filled)


def measure_all(fixtures: Path, mappings_dir: Path) -> list[ProviderFields]:
    """A row per known provider that has a payload folder under `fixtures`."""
    return [
        measure(slug, fixtures / slug, mappings_dir)
        for slug in registry.available(mappings_dir)
        if (fixtures / slug).is_dir()
    ]


def markdown(rows: Sequence[ProviderFields]) -> str:
    """The table as Markdown: `k/n` = filled in k of n call payloads, `-` = never."""
    head = ["provider", "calls", *FIELDS]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        cells = [f"{count}/{row.calls}" if count else "-" for count in row.filled.values()]
        lines.append(f"| {row.slug} | {row.calls} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def default_fixtures(project_root: Path) -> Path:
    """The project's test fixtures in a checkout, else the sample calls shipped with the hub."""
    checkout = project_root / "tests" / "fixtures" / "providers"
    return checkout if checkout.is_dir() else Path(__file__).resolve().parent / "sample_calls"
