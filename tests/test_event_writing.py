"""`dump_event` writes events without the schema's machinery; whatever it writes must be exactly
what the schema writes, key order included (it is the stored JSON text)."""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from hub.core.events import _SCHEMA, Call, Outcome, dump_event
from tests.test_event_reading import _random_event, _snapshot_events


def _same_text(event: Any) -> None:
    assert json.dumps(dump_event(event)) == json.dumps(_SCHEMA.dump(event))


@pytest.mark.parametrize("data", list(_snapshot_events()))
def test_every_normalized_fixture_event_is_written_as_the_schema_writes_it(data: dict[str, Any]) -> None:
    _same_text(_SCHEMA.load(data))


@pytest.mark.parametrize("seed", range(40))
def test_random_events_are_written_as_the_schema_writes_them(seed: int) -> None:
    _same_text(_random_event(random.Random(seed)))


class _Text(str):
    pass


#: Values of other types than the ones a field holds when built by a provider: the field writes
#: them (converted), as the schema would.
_ODD_VALUES: list[tuple[str, Any]] = [
    ("call", Call(duration_s=True, started_at=datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=2))))),
    ("call", Call(duration_s=42.0, first_call=1, direction=_Text("inbound"))),  # type: ignore[arg-type]
    ("outcome", Outcome(value=Decimal("1E+3"), tags=["a", _Text("b")])),  # type: ignore[arg-type]
    ("outcome", Outcome(value=Decimal("-0.50"), tags=())),
    ("custom", {"nested": {"list": [1, "x", None]}, "n": Decimal("2")}),
    ("warnings", ["read", _Text("twice")]),
    ("occurred_at", datetime(2026, 6, 1, 12, 0, 0, 5, tzinfo=UTC)),
]


@pytest.mark.parametrize(("name", "value"), _ODD_VALUES, ids=[name for name, _ in _ODD_VALUES])
def test_values_of_other_types_are_written_by_their_field(name: str, value: Any) -> None:
    event = dataclasses.replace(_random_event(random.Random(7)), **{name: value})

    assert dump_event(event) == _SCHEMA.dump(event)
    assert list(dump_event(event)) == list(_SCHEMA.dump(event))
