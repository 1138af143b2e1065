"""`hub ga4 validate` and `hub ga4 report` through `register` and `run`, as the hub's CLI wires them."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import DestinationSettings
from connectors.ga4 import cli
from connectors.ga4.fake import create_app
from connectors.ga4.reporting import DayKey, ReportWindow
from hub.core.errors import ConfigError
from hub.core.events import CallEvent, dump_event
from hub.core.records import RenderedRecord
from hub.local_server import LocalServer
from tests.connectors.ga4.calls import (
    API_SECRET,
    NOW,
    callrail_call,
    ctm_call,
    qualified,
    record,
    render,
    settings,
    with_attribution,
    with_call,
)


class Environment:
    """What the hub's CLI hands the GA4 commands: settings, rendering, delivered counts."""

    def __init__(
        self, destination: DestinationSettings, extra_records: Sequence[RenderedRecord] = ()
    ) -> None:
        self.destination = destination
        self.extra_records = list(extra_records)
        self.windows: list[ReportWindow] = []

    def ga4_destination(self, destination_id: str | None) -> DestinationSettings:
        assert destination_id in (None, self.destination.id)
        return self.destination

    def render(self, destination_id: str, event: CallEvent) -> Sequence[RenderedRecord]:
        # Extra (broken) records only for CallRail calls, so the CTM call keeps its own outcome.
        return [*render(event), *(self.extra_records if event.provider == "callrail" else [])]

    def delivered_counts(self, destination_id: str, window: ReportWindow) -> Mapping[DayKey, int]:
        self.windows.append(window)
        return {}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hub")
    commands = parser.add_subparsers(dest="command", required=True)
    cli.register(commands)
    return parser.parse_args(list(argv))


def write_events(tmp_path: Path, *events: CallEvent) -> Path:
    path = tmp_path / "events.json"
    data = [dump_event(event) for event in events]
    path.write_text(json.dumps(data[0] if len(data) == 1 else data))
    return path


@pytest.fixture
def live_ga4_url() -> Iterator[str]:
    """A fake on the real clock: `hub ga4 validate` checks timestamps against now."""
    with LocalServer(create_app()) as server:
        yield server.url


def recent(event: CallEvent) -> CallEvent:
    return with_call(event, started_at=datetime.now(UTC) - timedelta(minutes=10))


def test_validate_prints_valid_for_good_calls(live_ga4_url: str, tmp_path: Path) -> None:
    path = write_events(tmp_path, recent(qualified(callrail_call())), recent(ctm_call()))
    out = io.StringIO()

    code = cli.run(parse("ga4", "validate", str(path)), Environment(settings(live_ga4_url)), out)

    assert code == 0, out.getvalue()
    text = out.getvalue()
    assert f"{live_ga4_url}/debug/mp/collect?measurement_id=" in text
    assert "phone_call (callrail:CAL3f1e6c0a9b2d47e8a1c5d9f07b64e2a1), qualified_call" in text
    assert "valid" in text
    assert API_SECRET not in text
    assert "4705550183" not in text


def test_validate_prints_local_refusals_and_the_validation_servers_messages(
    live_ga4_url: str, tmp_path: Path
) -> None:
    path = write_events(tmp_path, recent(callrail_call()), with_attribution(ctm_call(), ga_client_id=None))
    fresh = int(datetime.now(UTC).timestamp() * 1_000_000)
    gclid = record("phone_call_with_gclid", {"params.firebase_conversion": "Cj0", "timestamp_micros": fresh})
    env = Environment(settings(live_ga4_url), [gclid])
    out = io.StringIO()

    code = cli.run(parse("ga4", "validate", str(path), "--destination", "ga4"), env, out)

    assert code == 1
    text = out.getvalue()
    assert "callrail:CAL3f1e6c0a9b2d47e8a1c5d9f07b64e2a1: would be refused before sending (mapping)" in text
    assert "ctm:2394857712: nothing to send (no_ga_client_id" in text
    assert "NAME_RESERVED events.params.firebase_conversion" in text


def test_validate_reports_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"provider": "callrail"}]))
    with pytest.raises(ConfigError, match="event 0"):
        cli.load_events_file(path)


def test_report_command_through_run(ga4_url: str) -> None:
    env = Environment(settings(ga4_url, credentials={"property_id": "123456789"}))
    out = io.StringIO()

    code = cli.run(parse("ga4", "report", "--days", "3", "--lag-days", "1"), env, out)

    assert code == 0
    assert env.windows[0].end - env.windows[0].start == NOW.date() - NOW.date().replace(day=10)
    assert "(no phone events on either side)" in out.getvalue()
