"""Preparing a batch: each delivery carries the call as stored and the version that triggered it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub.core.events import dump_event
from hub.deliver import _load_versions, _prepare
from hub.dispatch import dispatch_once
from hub.store.models import Call, Delivery, Event
from tests.hubkit import Hub

FIRST = "callrail/post_call_answered_web_session.json"
#: The same call, modified afterwards (tags, value, lead status).
MODIFIED = "callrail/call_modified_tags_value_lead_status.json"


def ingest(hub: Hub, fixture: str) -> None:
    assert hub.post_fixture("callrail", fixture).status_code == 202
    dispatch_once(hub.runtime)
    hub.run_jobs()  # ingest only: nothing was due for delivery when the pass ran


def prepared(hub: Hub) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The one delivery claimed now: (its trigger, its call, as delivered; its event id)."""
    dispatch_once(hub.runtime)
    with hub.runtime.db.read_session() as session:
        [(delivery_id, token, event_id)] = session.execute(
            select(Delivery.id, Delivery.claim_token, Delivery.event_id).where(Delivery.status == "queued")
        ).all()
    assert token
    destination = hub.runtime.config.destinations["webhook"]
    items, early, _ = _prepare(hub.runtime, destination, [delivery_id], token)
    assert not early
    [item] = items
    return dump_event(item.trigger), dump_event(item.call), event_id


def stored(hub: Hub, event_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(The version's payload, its call's current state) as stored."""
    with hub.runtime.db.read_session() as session:
        event = session.get(Event, event_id)
        assert event is not None
        call = session.get(Call, event.call_id)
        assert call is not None
        return dict(event.payload), dict(call.state)


def test_each_delivery_gets_its_own_version_and_the_current_call(hub: Hub) -> None:
    ingest(hub, FIRST)
    trigger, call, first_id = prepared(hub)
    first_payload, state = stored(hub, first_id)
    assert (trigger, call) == (first_payload, state)
    assert trigger["id"] == first_id
    assert call["id"] != first_id
    hub.run_jobs()  # delivered

    ingest(hub, MODIFIED)
    trigger, call, second_id = prepared(hub)
    payload, state = stored(hub, second_id)
    assert (trigger, call) == (payload, state)
    assert trigger["id"] == second_id

    # A version older than the call's state is loaded on its own, not taken from the state.
    assert first_payload != {**state, "id": first_id}
    current, older = _load_versions(state, first_payload)
    assert dump_event(current) == state
    assert dump_event(older) == first_payload
