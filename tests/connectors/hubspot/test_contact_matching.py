"""Which contact a call lands on: calculated-phone hits confirmed against the raw number, the match
property and a salesperson's corrections kept."""

from __future__ import annotations

from typing import Any

from connectors.base import Delivered
from connectors.hubspot.lookup import numbers_held, plan_searches, search_properties, split
from tests.connectors.hubspot.harness import call_event, item_for, make_connector, shared_context

CALC = "hs_searchable_calculated_phone_number"


def _contact_of(result: Any, delivery_id: str) -> str:
    outcome = result.outcomes[delivery_id]
    assert isinstance(outcome, Delivered), outcome
    return str(outcome.external_ids["contacts"])


def _properties(portal: Any, contact_id: str) -> dict[str, Any]:
    return dict(portal.fake.store.get("contacts", contact_id).properties)


# --- A calculated-property hit is a candidate, confirmed against the raw phone ---------------


def test_same_national_digits_in_another_country_is_not_the_caller(portal, redis_url):
    uk = portal.fake.store.create("contacts", {"firstname": "Nigel", "phone": "+44 20 2555 0100"})
    connector = make_connector(portal.url, shared_context(redis_url))

    result = connector.deliver([item_for(call_event("+12025550100", "call-us"))])

    outcome = result.outcomes["dlv-call-us-call.completed"]
    assert isinstance(outcome, Delivered), outcome
    assert outcome.external_ids["contacts"] != uk.id
    assert _properties(portal, uk.id)["firstname"] == "Nigel"
    assert len(portal.records("contacts")) == 2


def test_calculated_hits_need_the_raw_number_to_agree():
    us = "+12025550100"
    properties = ["phone", CALC]
    assert numbers_held({"properties": {CALC: "2025550100"}}, properties, [us], "US") == set()
    assert (
        numbers_held(
            {"properties": {CALC: "2025550100", "phone": "+44 20 2555 0100"}}, properties, [us], "US"
        )
        == set()
    )
    assert numbers_held(
        {"properties": {CALC: "2025550100", "phone": "(202) 555-0100"}}, properties, [us], "US"
    ) == {us}
    # Typed without a country code: read in the caller's region, not only the portal's default.
    uk = "+442071234567"
    assert numbers_held({"properties": {"phone": "020 7123 4567"}}, properties, [uk], "US") == {uk}


# --- One search finds a batch's callers in either phone property ---------------------------


def test_one_search_finds_a_hundred_callers_in_phone_or_mobilephone(portal, redis_url):
    store = portal.fake.store
    by_phone = store.create("contacts", {"phone": "+14155550100"})
    by_mobile = store.create("contacts", {"mobilephone": "(415) 555-0101"})
    typed = store.create("contacts", {"phone": "415.555.0102"})
    connector = make_connector(portal.url, shared_context(redis_url))
    numbers = [f"+1415555{index:04d}" for index in range(100, 200)]
    before = portal.fake.stats()["counts"].get("search", 0)

    result = connector.deliver([item_for(call_event(number, f"call-{number}")) for number in numbers])

    assert portal.fake.stats()["counts"]["search"] - before == 1
    assert _contact_of(result, "dlv-call-+14155550100-call.completed") == by_phone.id
    assert _contact_of(result, "dlv-call-+14155550101-call.completed") == by_mobile.id
    assert _contact_of(result, "dlv-call-+14155550102-call.completed") == typed.id
    assert len(portal.records("contacts")) == 100


def test_a_search_is_split_over_hubspot_s_limits(portal, redis_url):
    # Two values an IN filter: the 100 callers' four properties need many requests, each within
    # the limits the fake enforces, and every caller is still found.
    store = portal.fake.store
    held = store.create("contacts", {"mobilephone": "+14155550199"})
    connector = make_connector(portal.url, shared_context(redis_url), max_in_values=2)
    numbers = [f"+1415555{index:04d}" for index in range(100, 200)]

    result = connector.deliver([item_for(call_event(number, f"call-{number}")) for number in numbers])

    assert portal.fake.stats()["counts"]["search"] > 1
    assert _contact_of(result, "dlv-call-+14155550199-call.completed") == held.id
    assert all(isinstance(outcome, Delivered) for outcome in result.outcomes.values())
    assert len(portal.records("contacts")) == 100


def test_a_search_matching_too_many_contacts_is_split_in_halves():
    properties = search_properties(["phone"])
    numbers = [f"+1415555{index:04d}" for index in range(100, 200)]
    (whole,) = plan_searches(numbers, properties, 100)

    halves = split(whole, properties, 100)

    assert [len(plan.numbers) for plan in halves] == [50, 50]
    assert [n for plan in halves for n in plan.numbers] == numbers
    assert all(len(plan.filter_groups()) <= 5 for plan in halves)


# --- The match property of a matched contact is never overwritten ---------------------------


def test_updating_a_contact_found_by_mobile_keeps_its_phone(portal, redis_url):
    contact = portal.fake.store.create(
        "contacts", {"firstname": "Ann", "phone": "(415) 555-0199", "mobilephone": "+14155550100"}
    )
    connector = make_connector(portal.url, shared_context(redis_url))

    result = connector.deliver([item_for(call_event("+14155550100", "call-m"))])

    outcome = result.outcomes["dlv-call-m-call.completed"]
    assert isinstance(outcome, Delivered)
    assert outcome.external_ids["contacts"] == contact.id
    after = _properties(portal, contact.id)
    assert (after["phone"], after["mobilephone"]) == ("(415) 555-0199", "+14155550100")
    assert after["callhub_source"] == "google"


def test_a_matched_contact_without_a_phone_gets_one(portal, redis_url):
    contact = portal.fake.store.create("contacts", {"firstname": "Ann", "mobilephone": "+14155550100"})
    connector = make_connector(portal.url, shared_context(redis_url))

    connector.deliver([item_for(call_event("+14155550100", "call-m"))])

    assert _properties(portal, contact.id)["phone"] == "+14155550100"


# --- A contact keyed by the caller's number is updated under the rules, not overwritten -----


def test_contact_keyed_by_the_number_keeps_its_corrections_when_memory_is_lost(portal, redis_url):
    first = make_connector(portal.url, shared_context(redis_url)).deliver(
        [item_for(call_event("+14155550100", "call-1"))]
    )
    contact_id = _contact_of(first, "dlv-call-1-call.completed")
    # A salesperson works the contact: customer now, name fixed, phone is the office line.
    portal.fake.store.update(
        "contacts",
        contact_id,
        {"lifecyclestage": "customer", "firstname": "Ann Smith", "phone": "+1 415 555 0142"},
    )

    # The hub's note of the contact is gone; search does not find the number any more.
    result = make_connector(portal.url, shared_context(redis_url)).deliver(
        [item_for(call_event("+14155550100", "call-2", minutes_later=60))]
    )

    outcome = result.outcomes["dlv-call-2-call.completed"]
    assert isinstance(outcome, Delivered), outcome
    assert outcome.external_ids["contacts"] == contact_id
    after = _properties(portal, contact_id)
    assert (after["lifecyclestage"], after["firstname"], after["phone"]) == (
        "customer",
        "Ann Smith",
        "+1 415 555 0142",
    )
    assert after["callhub_last_call_at"] == "2026-05-01T16:04:05Z"
    assert len(portal.records("contacts")) == 1
