"""The JSON contract of the normalized call event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from marshmallow import ValidationError

from hub.core.events import Attribution, CallEvent, Outcome, dump_event, get_path, known_paths, load_event
from hub.merge import merge


def event(**changes: object) -> CallEvent:
    base = CallEvent(
        provider="callrail",
        provider_call_id="CAL1",
        kind="call.completed",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    import dataclasses

    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_round_trip_and_utc_output() -> None:
    local = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    original = event(occurred_at=local, outcome=Outcome(value=Decimal("125.50"), tags=("booked", "new")))
    data = dump_event(original)
    assert data["occurred_at"] == "2026-03-01T14:30:00Z"
    assert data["outcome"]["value"] == "125.50"
    assert data["outcome"]["tags"] == ["booked", "new"]
    assert load_event(data) == event(occurred_at=local.astimezone(UTC), outcome=original.outcome)


def test_empty_strings_become_null_and_kinds_are_closed() -> None:
    data = dump_event(event())
    data["caller"] = {"number": "", "name": ""}
    assert load_event(data).caller.number is None
    data["kind"] = "call.exploded"
    with pytest.raises(ValidationError):
        load_event(data)


def test_paths_cover_every_documented_field() -> None:
    paths = known_paths()
    for path in (
        "caller.number",
        "attribution.ga_client_id",
        "attribution.gclid",
        "outcome.value",
        "call.duration_s",
    ):
        assert path in paths
    assert get_path(event(custom={"a": {"b": 1}}), "custom.a.b") == 1


def test_merge_late_started_never_reopens_a_completed_call() -> None:
    completed = event(
        kind="call.completed",
        occurred_at=datetime(2026, 1, 1, 10, 5, tzinfo=UTC),
        attribution=Attribution(gclid="G1"),
    )
    updated = event(
        kind="call.updated", occurred_at=datetime(2026, 1, 1, 11, tzinfo=UTC), outcome=Outcome(tags=("sale",))
    )
    started = event(
        kind="call.started",
        occurred_at=datetime(2026, 1, 1, 10, 0, tzinfo=UTC),
        attribution=Attribution(gclid="OLD", campaign="c"),
    )
    merged = merge([updated, started, completed])
    assert merged.kind == "call.updated"
    assert merged.attribution.gclid == "G1", "a later stage wins over an earlier one"
    assert merged.attribution.campaign == "c", "values only the early version had are kept"
    assert merged.outcome.tags == ("sale",)


def test_loading_the_same_data_again_gives_the_same_event_and_refusals_are_never_remembered() -> None:
    data = dump_event(event(custom={"order": 1}, outcome=Outcome(tags=("a",))))
    first = load_event(data)
    again = load_event(dict(data))
    assert again == first
    # Values JSON tells apart load as the schema reads each of them, not as a look-alike did.
    assert load_event({**data, "custom": {"order": "1"}}).custom == {"order": "1"}
    assert load_event(data).custom == {"order": 1}
    bad = {**data, "kind": "call.exploded"}
    for _ in range(2):
        with pytest.raises(ValidationError):
            load_event(bad)
    wrong_type = {**data, "provider_call_id": 17}
    with pytest.raises(ValidationError):
        load_event(wrong_type)
