"""Stored events are read without the schema's machinery when they are in `dump_event`'s shape;
whatever the fast reader takes, it must build exactly what the schema builds, and whatever it does
not take goes through the schema (converted, or refused with the schema's own error)."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError

from hub.core.events import (
    _SCHEMA,
    Account,
    Attribution,
    Call,
    Caller,
    CallEvent,
    Outcome,
    _read_canonical,
    dump_event,
    load_event,
)

SNAPSHOTS = Path(__file__).parent / "fixtures" / "providers"


def _snapshot_events() -> Iterator[Any]:
    for path in sorted(SNAPSHOTS.glob("**/*.expected.json")):
        events = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(events, list):
            for index, event in enumerate(events):
                yield pytest.param(event, id=f"{path.relative_to(SNAPSHOTS)}#{index}")


@pytest.mark.parametrize("data", list(_snapshot_events()))
def test_every_normalized_fixture_event_is_read_fast_and_the_same(data: dict[str, Any]) -> None:
    read = _read_canonical(data)

    assert read is not None, "a dumped event must be read without the schema"
    assert read == _SCHEMA.load(data)


def _random_event(rng: random.Random) -> CallEvent:
    def maybe(value: Any) -> Any:
        return value if rng.random() < 0.6 else None

    moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(
        seconds=rng.randrange(10**7), microseconds=rng.choice([0, 1, 123456])
    )
    return CallEvent(
        provider=rng.choice(["callrail", "ctm", "twilio"]),
        provider_call_id=f"CAL{rng.randrange(10**6)}",
        kind=rng.choice(["call.started", "call.completed", "call.updated", "unknown"]),
        occurred_at=moment,
        id=rng.choice(["", "evt_1"]),
        source=rng.choice(["", "callrail"]),
        account=Account(id=maybe("A1"), name=maybe("Dealer")),
        call=Call(
            started_at=maybe(moment),
            ended_at=maybe(moment + timedelta(minutes=3)),
            duration_s=maybe(rng.randrange(0, 3600)),
            direction=maybe(rng.choice(["inbound", "outbound"])),
            status=maybe(rng.choice(["answered", "missed", "voicemail"])),
            first_call=maybe(rng.choice([True, False])),
            recording_url=maybe("https://example.com/r.mp3"),
        ),
        caller=Caller(number=maybe("+14155550100"), name=maybe("Maria Vega"), country=maybe("US")),
        tracking_number=maybe("+18005550199"),
        attribution=Attribution(
            dni_type=maybe(rng.choice(["url", "session"])),
            source=maybe("google"),
            gclid=maybe("Cj0KCQ"),
            ga_client_id=maybe("1197596843.1673515099"),
        ),
        outcome=Outcome(
            qualified=maybe(rng.choice([True, False])),
            value=maybe(rng.choice([Decimal("125.50"), Decimal("0"), Decimal("-3.2")])),
            currency=maybe("USD"),
            tags=maybe(tuple(rng.sample(["new", "booked", "spam"], rng.randrange(0, 3)))),
        ),
        custom=rng.choice([{}, {"a": {"b": 1}}, {"list": [1, "x"]}]),
        warnings=tuple(rng.sample(["bad duration"], rng.randrange(0, 2))),
    )


#: Changes to a dumped event: other spellings the schema converts, and values it refuses.
_CHANGES: list[tuple[str, Any]] = [
    ("call.duration_s", "42"),
    ("call.duration_s", 42.0),
    ("call.duration_s", True),
    ("call.duration_s", -1),
    ("call.first_call", "true"),
    ("call.first_call", 1),
    ("call.status", "exploded"),
    ("call.started_at", "2026-01-01T10:00:00"),
    ("call.started_at", "2026-01-01 10:00:00+02:00"),
    ("call.started_at", "2026-01-01T10:00:00+02:00"),
    ("occurred_at", "2026-01-01T10:00:00.5Z"),
    ("occurred_at", None),
    ("kind", "call.exploded"),
    ("provider_call_id", ""),
    ("provider", None),
    ("caller.country", "USA"),
    ("caller.number", ""),
    ("caller.number", 4155550100),
    ("caller", None),
    ("caller", "+14155550100"),
    ("outcome.value", "1e3"),
    ("outcome.value", "NaN"),
    ("outcome.value", 12.5),
    ("outcome.currency", "US"),
    ("outcome.tags", ["a", 1]),
    ("outcome.tags", "a"),
    ("custom", []),
    ("custom", {"1": 2}),
    ("warnings", None),
    ("tracking_number", ""),
    ("unknown_key", "kept out"),
    ("caller.unknown_key", "kept out"),
]


def _changed(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    *parents, last = path.split(".")
    node = changed
    for part in parents:
        node = node.setdefault(part, {}) if isinstance(node.get(part), dict) else {}
    node[last] = value
    return changed


def _schema_says(data: dict[str, Any]) -> CallEvent | str:
    try:
        return _SCHEMA.load(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        return json.dumps(exc.messages, sort_keys=True)


def _hub_says(data: dict[str, Any]) -> CallEvent | str:
    try:
        return load_event(data)
    except ValidationError as exc:
        return json.dumps(exc.messages, sort_keys=True)


@pytest.mark.parametrize("seed", range(40))
def test_random_events_and_their_other_spellings_load_as_the_schema_loads_them(seed: int) -> None:
    rng = random.Random(seed)
    data = json.loads(json.dumps(dump_event(_random_event(rng))))
    assert _read_canonical(data) == _SCHEMA.load(data)
    for path, value in _CHANGES:
        changed = _changed(data, path, value)
        assert _hub_says(changed) == _schema_says(changed), f"{path} = {value!r}"


def test_a_timestamp_with_an_offset_is_read_as_the_same_moment_in_utc() -> None:
    data = dump_event(_random_event(random.Random(1)))
    data["occurred_at"] = "2026-03-01T09:30:00-05:00"

    read = _read_canonical(data)

    assert read is not None
    assert read.occurred_at == datetime(2026, 3, 1, 14, 30, tzinfo=UTC)
    assert read.occurred_at.tzinfo is UTC
    assert read == _SCHEMA.load(data)
    assert datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5))) == read.occurred_at
