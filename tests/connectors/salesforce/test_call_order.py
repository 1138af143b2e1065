"""An older call, retried late or placed anywhere in a batch, never overwrites a newer call's values."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from connectors.base import Delivered
from hub.coordination import MemoryStateStore
from hub.core.events import CallEvent
from tests.connectors.salesforce.calls import STARTED, call, connector, item, updated
from tests.connectors.salesforce.conftest import FakeOrg


def at(event: CallEvent, minutes: int) -> CallEvent:
    """`event` as a call that started `minutes` after the fixture's start time."""
    started = STARTED + timedelta(minutes=minutes)
    return dataclasses.replace(
        event,
        call=dataclasses.replace(event.call, started_at=started),
        occurred_at=started + timedelta(minutes=7),
    )


def test_an_older_call_retried_late_keeps_the_newer_calls_status(fake: FakeOrg, redis_url: str) -> None:
    state = MemoryStateStore()
    older = at(updated(call("OLD"), lead_status="good_lead"), 0)
    newer = at(updated(call("NEW"), lead_status="not_a_lead"), 60)
    connector(fake.url, redis_url, state).send([item(call("FIRST"))])

    connector(fake.url, redis_url, state).send([item(newer)])
    result = connector(fake.url, redis_url, state).send([item(older)])

    assert isinstance(result.outcomes[older.id], Delivered)
    (lead,) = fake.records("Lead")
    assert lead["Status"] == "Closed - Not Converted"
    # The older call is still logged as its own Task.
    assert len(fake.records("Task")) == 3


def test_within_a_batch_the_latest_call_wins_whatever_the_batch_order(fake: FakeOrg, redis_url: str) -> None:
    state = MemoryStateStore()
    connector(fake.url, redis_url, state).send([item(call("FIRST"))])
    older = at(updated(call("OLD"), lead_status="good_lead"), 0)
    newer = at(updated(call("NEW"), lead_status="not_a_lead"), 60)

    connector(fake.url, redis_url, state).send([item(newer), item(older)])

    (lead,) = fake.records("Lead")
    assert lead["Status"] == "Closed - Not Converted"
