"""Whatever a call holds, rendering succeeds with JSON-ready values and never sends an empty field."""

from __future__ import annotations

import json
from datetime import UTC

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.core.events import KINDS, STATUSES, Attribution, Call, Caller, CallEvent, Outcome
from hub.core.records import RenderedRecord
from hub.mapping.conditions import is_missing

EVERY_TRANSFORM = """
version: 1
object: Lead
when:
  - {path: call.spam, not_equals: true}
fields:
  Phone: {from: [caller.number, custom.phone], transform: e164}
  National: {from: caller.number, transform: national}
  Hash: {from: caller.number, transform: sha256_e164}
  Email: {from: caller.email, transform: [sha256]}
  Name: {from: [caller.name, caller.number], transform: [upper, lower, {truncate: 10}], default: Unknown}
  Day: {from: call.started_at, transform: date}
  At: {from: call.started_at, transform: datetime}
  Micros: {from: [call.started_at, occurred_at], transform: unix_micros}
  Seconds: {from: occurred_at, transform: unix_seconds}
  Minutes: {from: call.duration_s, transform: minutes}
  Millis: {from: call.talk_time_s, transform: milliseconds}
  Tags: {from: outcome.tags, transform: {join: ", "}}
  TagList: {from: outcome.tags}
  Status: {from: call.status, transform: {map: {answered: Won, missed: Lost, default: Open}}}
  Qualified: {from: outcome.qualified, transform: string}
  Value: {from: outcome.value, transform: number}
  RawValue: {from: outcome.value}
  Flag: {from: custom.flag, transform: boolean}
  Custom: {from: custom.data}
"""

texts = st.none() | st.text(max_size=30)
events = st.builds(
    CallEvent,
    provider=st.just("callrail"),
    provider_call_id=st.just("c1"),
    kind=st.sampled_from(KINDS),
    occurred_at=st.datetimes(timezones=st.just(UTC)),
    caller=st.builds(Caller, number=texts, name=texts, email=texts),
    call=st.builds(
        Call,
        started_at=st.none() | st.datetimes(timezones=st.just(UTC)),
        duration_s=st.none() | st.integers(min_value=0, max_value=10**6),
        talk_time_s=st.none() | st.integers(min_value=0, max_value=10**6),
        status=st.none() | st.sampled_from(STATUSES),
        spam=st.none() | st.booleans(),
    ),
    attribution=st.builds(Attribution),
    outcome=st.builds(
        Outcome,
        qualified=st.none() | st.booleans(),
        value=st.none() | st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False),
        tags=st.none() | st.lists(st.text(max_size=10), max_size=4).map(tuple),
    ),
    custom=st.fixed_dictionaries(
        {},
        optional={
            "phone": texts,
            "flag": st.none() | st.booleans() | st.integers() | st.text(max_size=5),
            "data": st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                lambda inner: (
                    st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
                ),
                max_leaves=6,
            ),
        },
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=events)
def test_any_call_renders_json_ready_values(mapping_from, event):
    mapping = mapping_from(EVERY_TRANSFORM)
    result = mapping.render(event)
    if isinstance(result, RenderedRecord):
        assert json.loads(json.dumps(dict(result.fields))) == dict(result.fields)
        assert not any(is_missing(value) for value in result.fields.values())
        assert result.fields["Name"]
