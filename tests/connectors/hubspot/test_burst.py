"""A burst of 1,000 calls under a scaled-down rate limit: every call delivered, one contact per caller,
one engagement per call, at most 0.1 API requests per call."""

from __future__ import annotations

import phonenumbers

from connectors.base import Delivered, DeliveryItem
from connectors.hubspot import HubSpotConnector
from tests.connectors.hubspot.harness import (
    call_event,
    deliver_until_settled,
    item_for,
    make_connector,
    shared_context,
)

CALLS = 1000
CALLERS = 700
KNOWN = 50


def caller_number(index: int) -> str:
    return f"+1415555{index:04d}"


def burst_items() -> list[DeliveryItem]:
    items = []
    for index in range(CALLS):
        caller = index if index < CALLERS else (index * 7) % CALLERS
        items.append(item_for(call_event(caller_number(caller), f"call-{index:04d}", minutes_later=index)))
    return items


def test_burst_of_1000_calls_under_a_scaled_down_limit(portal_factory, redis_url):
    # 100 requests per 1 s instead of per 10 s; search 5 per 0.5 s. The hub's shared limiter sits
    # just under the portal's so clock skew between the two cannot turn into lost deliveries.
    portal = portal_factory(rate_limit=100, rate_window_s=1.0, search_rate_limit=5, search_window_s=0.5)
    for index in range(KNOWN):
        national = phonenumbers.format_number(
            phonenumbers.parse(caller_number(index)), phonenumbers.PhoneNumberFormat.NATIONAL
        )
        portal.fake.store.create("contacts", {"phone": national, "firstname": f"Known {index}"})
    context = shared_context(redis_url, {"default": (90, 1.0), "search": (4, 0.5)})
    connector = make_connector(portal.url, context)

    outcomes, retried = deliver_until_settled(connector, burst_items(), batch_size=HubSpotConnector.max_batch)

    assert len(outcomes) == CALLS
    assert all(isinstance(outcome, Delivered) for outcome in outcomes.values()), {
        type(o).__name__ for o in outcomes.values()
    }
    assert {error.reason for error in retried} <= {"rate_limited", "throttled"}
    contacts = portal.records("contacts")
    calls = portal.records("calls")
    assert len(contacts) == CALLERS
    assert len(calls) == CALLS
    phone_of = {c["id"]: c["properties"]["hs_calculated_phone_number"] for c in contacts}
    for call in calls:
        [contact_id] = call["associations"]["contacts"]
        assert phone_of[contact_id] == call["properties"]["hs_call_from_number"]
    admitted = portal.requests() - portal.fake.limits.rejected
    assert admitted <= CALLS * 0.1, portal.fake.stats()
