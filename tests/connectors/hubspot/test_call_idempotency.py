"""Calls written once, in both idempotency modes: upsert on a unique call key, or (for a portal
without unique values on calls) remembered id, then search under a per-call lock, then create."""

from __future__ import annotations

import time

import requests

from connectors.base import Delivered, RetryableError
from connectors.hubspot.call_search import call_state_key
from connectors.hubspot.capabilities import STATE_KEY
from tests.connectors.hubspot.harness import TOKEN, call_event, item_for, make_connector, shared_context

CALL_KEY = "callrail:call-1"


def _engagements(portal) -> list[dict]:
    return portal.records("calls")


def test_auto_mode_upserts_where_the_portal_has_unique_values_on_calls(portal, redis_url):
    context = shared_context(redis_url)
    connector = make_connector(portal.url, context)

    outcome = connector.deliver([item_for(call_event())]).outcomes["dlv-call-1-call.completed"]

    assert isinstance(outcome, Delivered), outcome
    assert context.get_state(STATE_KEY)["mode"] == "unique_property"
    assert len(_engagements(portal)) == 1


def test_auto_mode_searches_where_the_portal_has_no_unique_values_on_calls(portal_factory, redis_url):
    portal = portal_factory(unique_calls=False, rate_limit=100_000, search_rate_limit=100_000)
    context = shared_context(redis_url)
    connector = make_connector(portal.url, context)
    event = call_event()

    first = connector.deliver([item_for(event)]).outcomes["dlv-call-1-call.completed"]
    replay = connector.deliver([item_for(event, attempt=2)]).outcomes["dlv-call-1-call.completed"]

    assert context.get_state(STATE_KEY)["mode"] == "search"
    assert isinstance(first, Delivered), first
    assert isinstance(replay, Delivered), replay
    [engagement] = _engagements(portal)
    assert first.external_ids["calls"] == replay.external_ids["calls"] == engagement["id"]
    assert engagement["properties"]["callhub_call_id"] == CALL_KEY
    assert engagement["associations"] == {"contacts": [first.external_ids["contacts"]]}


def test_search_mode_finds_the_engagement_a_hub_without_memory_wrote(portal_factory, redis_url):
    portal = portal_factory(unique_calls=False, rate_limit=100_000, search_rate_limit=100_000)
    event = call_event()
    make_connector(portal.url, shared_context(redis_url)).deliver([item_for(event)])

    # Another hub (or this one after losing its state): nothing remembered, search finds it.
    forgetful = make_connector(portal.url, shared_context(redis_url))
    outcome = forgetful.deliver([item_for(event, attempt=2)]).outcomes["dlv-call-1-call.completed"]

    assert isinstance(outcome, Delivered), outcome
    assert len(_engagements(portal)) == 1


def test_search_mode_waits_for_the_index_after_an_interrupted_create(portal_factory, redis_url):
    portal = portal_factory(
        unique_calls=False, search_lag_s=30.0, rate_limit=100_000, search_rate_limit=100_000
    )
    context = shared_context(redis_url)
    connector = make_connector(portal.url, context)
    event = call_event()
    connector.deliver([item_for(event)])
    # As if the worker died after HubSpot created the engagement, before the hub remembered it.
    context.put_state(call_state_key(CALL_KEY), {"creating_at": time.time()})

    outcome = connector.deliver([item_for(event, attempt=2)]).outcomes["dlv-call-1-call.completed"]

    assert isinstance(outcome, RetryableError), outcome
    assert outcome.reason == "search_lag"
    assert outcome.retry_after is not None
    assert 1.0 <= outcome.retry_after <= 60.0
    assert len(_engagements(portal)) == 1, "no second engagement while search cannot see the first"


def test_search_mode_updates_the_oldest_of_engagements_written_before(portal_factory, redis_url):
    portal = portal_factory(unique_calls=False, rate_limit=100_000, search_rate_limit=100_000)
    ids = [_seed_engagement(portal.url, CALL_KEY) for _ in range(2)]

    connector = make_connector(portal.url, shared_context(redis_url))
    outcome = connector.deliver([item_for(call_event())]).outcomes["dlv-call-1-call.completed"]

    assert isinstance(outcome, Delivered), outcome
    assert outcome.external_ids["calls"] == min(ids, key=int)
    assert "2 call engagements hold this call id" in outcome.note
    assert len(_engagements(portal)) == 2, "nothing more is created"


def _seed_engagement(url: str, call_key: str) -> str:
    response = requests.post(
        f"{url}/crm/v3/objects/calls",
        json={"properties": {"hs_timestamp": "2026-05-01T15:04:05.000Z", "callhub_call_id": call_key}},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def test_preview_shows_the_search_path_in_search_mode(portal, redis_url):
    connector = make_connector(portal.url, shared_context(redis_url), call_idempotency="search")

    urls = [request.url for request in connector.preview(item_for(call_event()))]

    assert "/crm/v3/objects/calls/search" in urls
    assert "/crm/v3/objects/calls/batch/create" in urls
    assert "/crm/v3/objects/calls/batch/upsert" not in urls
