"""A caller becomes one contact with the call on its timeline, whatever format HubSpot holds the number in."""

from __future__ import annotations

import threading

import requests

from connectors.base import Delivered, Held, ItemOutcome, PermanentError, Skipped
from connectors.hubspot.fake.faults import Fault
from connectors.hubspot.properties import DISPOSITIONS
from hub.core.events import Outcome
from tests.connectors.hubspot.harness import (
    TOKEN,
    call_event,
    deliver_until_settled,
    item_for,
    make_connector,
    shared_context,
)


def contact_of(outcome: ItemOutcome) -> str:
    assert isinstance(outcome, Delivered), outcome
    return outcome.external_ids["contacts"]


def _seed_contact(url: str, **properties: str) -> str:
    response = requests.post(
        f"{url}/crm/v3/objects/contacts",
        json={"properties": properties},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def test_new_phone_only_caller_gets_one_contact_and_one_associated_call_with_attribution(portal, redis_url):
    connector = make_connector(portal.url, shared_context(redis_url))

    result = connector.deliver([item_for(call_event())])

    outcome = result.outcomes["dlv-call-1-call.completed"]
    assert isinstance(outcome, Delivered), outcome
    [contact] = portal.records("contacts")
    [call] = portal.records("calls")
    assert outcome.external_ids == {"contacts": contact["id"], "calls": call["id"]}
    assert contact["properties"]["phone"] == "+14155550100"
    assert contact["properties"]["callhub_caller_e164"] == "+14155550100"
    assert contact["properties"]["callhub_gclid"] == "Cj0KCQ-test-gclid"
    assert contact["properties"]["callhub_keyword"] == "emergency plumber"
    assert contact["properties"]["callhub_campaign"] == "spring-sale"
    assert contact["properties"]["callhub_landing_page"] == "https://example.com/plumbing"
    assert (contact["properties"]["callhub_source"], contact["properties"]["callhub_medium"]) == (
        "google",
        "cpc",
    )
    assert contact["properties"]["lifecyclestage"] == "lead"
    assert call["associations"] == {"contacts": [contact["id"]]}
    properties = call["properties"]
    assert properties["callhub_call_id"] == "callrail:call-1"
    assert properties["hs_call_duration"] == "125000"
    assert properties["hs_call_direction"] == "INBOUND"
    assert properties["hs_call_status"] == "COMPLETED"
    assert properties["hs_call_disposition"] == DISPOSITIONS["connected"]
    assert properties["hs_call_from_number"] == "+14155550100"
    assert properties["hs_call_to_number"] == "+18005550199"
    assert properties["hs_call_recording_url"] == "https://recordings.example.com/call-1.mp3"
    assert properties["hs_timestamp"] == "2026-05-01T15:04:05Z"
    assert "Campaign: spring-sale" in properties["hs_call_body"]
    assert "GCLID: Cj0KCQ-test-gclid" in properties["hs_call_body"]
    # Every request is in the delivery's history, with no phone number in clear.
    assert len(result.exchanges) == portal.requests()
    assert all("4155550100" not in x.request_body + x.response_body for x in result.exchanges)


def test_same_caller_in_other_formats_finds_the_same_contact(portal, redis_url):
    existing = _seed_contact(portal.url, phone="(415) 555-0100", firstname="Ann")
    other_person = _seed_contact(portal.url, phone="+44 20 7946 0100")
    connector = make_connector(portal.url, shared_context(redis_url))

    first = connector.deliver([item_for(call_event("+1 415 555 0100", "call-1"))])
    second = connector.deliver([item_for(call_event("415.555.0100", "call-2", minutes_later=60))])

    assert contact_of(first.outcomes["dlv-call-1-call.completed"]) == existing
    assert contact_of(second.outcomes["dlv-call-2-call.completed"]) == existing
    assert {c["id"] for c in portal.records("contacts")} == {existing, other_person}
    calls = portal.records("calls")
    assert len(calls) == 2
    assert all(call["associations"]["contacts"] == [existing] for call in calls)
    contact = next(c for c in portal.records("contacts") if c["id"] == existing)
    # create_only: a known caller keeps the name a person gave it.
    assert contact["properties"]["firstname"] == "Ann"


def test_number_stored_in_mobilephone_matches(portal, redis_url):
    existing = _seed_contact(portal.url, mobilephone="4155550100")
    connector = make_connector(portal.url, shared_context(redis_url))

    result = connector.deliver([item_for(call_event())])

    assert contact_of(result.outcomes["dlv-call-1-call.completed"]) == existing
    assert len(portal.records("contacts")) == 1


def test_hub_remembers_what_it_wrote_while_the_search_index_lags(portal_factory, redis_url):
    portal = portal_factory(search_lag_s=600)
    connector = make_connector(portal.url, shared_context(redis_url))

    connector.deliver([item_for(call_event(call_id="call-1"))])
    connector.deliver([item_for(call_event("(415) 555-0100", call_id="call-2", minutes_later=5))])

    assert len(portal.records("contacts")) == 1
    assert len(portal.records("calls")) == 2


def test_state_lost_and_index_lagging_still_no_duplicate(portal_factory, redis_url):
    # A crash after HubSpot wrote the contact but before the hub remembered it: the upsert on the
    # unique callhub_caller_e164 finds the contact it created.
    portal = portal_factory(search_lag_s=600)
    make_connector(portal.url, shared_context(redis_url, destination_id="a")).deliver(
        [item_for(call_event())]
    )
    fresh = make_connector(portal.url, shared_context(redis_url, destination_id="b"))

    result = fresh.deliver([item_for(call_event(call_id="call-2"))])

    assert isinstance(result.outcomes["dlv-call-2-call.completed"], Delivered)
    assert len(portal.records("contacts")) == 1


def test_one_batch_with_the_same_caller_twice_makes_one_contact(portal, redis_url):
    connector = make_connector(portal.url, shared_context(redis_url))
    items = [item_for(call_event(call_id="call-1")), item_for(call_event("4155550100", call_id="call-2"))]

    result = connector.deliver(items)

    assert all(isinstance(o, Delivered) for o in result.outcomes.values())
    assert len(portal.records("contacts")) == 1
    assert len(portal.records("calls")) == 2


def test_concurrent_workers_never_duplicate_a_contact(portal_factory, redis_url):
    portal = portal_factory(search_lag_s=600)
    outcomes: list[ItemOutcome] = []

    def work(index: int) -> None:
        connector = make_connector(portal.url, shared_context(redis_url, destination_id="shared"))
        result = connector.deliver([item_for(call_event(call_id=f"call-{index}"))])
        outcomes.extend(result.outcomes.values())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(outcomes) == 4
    assert all(isinstance(outcome, Delivered) for outcome in outcomes), outcomes
    assert len(portal.records("contacts")) == 1
    assert len(portal.records("calls")) == 4


def test_call_updated_updates_the_same_engagement(portal, redis_url):
    connector = make_connector(portal.url, shared_context(redis_url))
    completed = call_event()
    connector.deliver([item_for(completed)])
    associations_before = len(portal.fake.requests_to("POST", "/associate/default"))
    updated = call_event(
        kind="call.updated",
        outcome=Outcome(lead_status="good_lead", notes="Booked a visit", agent="Agent@Example.com"),
    )

    result = connector.deliver([item_for(updated)])

    outcome = result.outcomes["dlv-call-1-call.updated"]
    assert isinstance(outcome, Delivered)
    [call] = portal.records("calls")
    assert outcome.external_ids["calls"] == call["id"]
    assert call["properties"]["hs_call_body"].startswith("Booked a visit")
    assert call["properties"]["hubspot_owner_id"] == "7001"
    [contact] = portal.records("contacts")
    assert contact["properties"]["hs_lead_status"] == "CONNECTED"
    assert contact["properties"]["hubspot_owner_id"] == "7001"
    # Already associated: no second association request.
    assert len(portal.fake.requests_to("POST", "/associate/default")) == associations_before


def test_several_matching_contacts_most_recent_policy(portal, redis_url):
    older = _seed_contact(portal.url, phone="+14155550100")
    newer = _seed_contact(portal.url, mobilephone="(415) 555-0100")
    connector = make_connector(portal.url, shared_context(redis_url))

    result = connector.deliver([item_for(call_event())])

    assert contact_of(result.outcomes["dlv-call-1-call.completed"]) == newer
    assert len(portal.records("contacts")) == 2
    assert older != newer


def test_several_matching_contacts_hold_policy(portal, redis_url):
    _seed_contact(portal.url, phone="+14155550100")
    _seed_contact(portal.url, phone="415-555-0100")
    connector = make_connector(portal.url, shared_context(redis_url), duplicates="hold")

    result = connector.deliver([item_for(call_event())])

    outcome = result.outcomes["dlv-call-1-call.completed"]
    assert isinstance(outcome, Held)
    assert outcome.reason == "several_contacts"
    assert portal.records("calls") == []


def test_lifecycle_stage_never_moves_backwards(portal, redis_url):
    customer = _seed_contact(portal.url, phone="+14155550100", lifecyclestage="customer")
    connector = make_connector(portal.url, shared_context(redis_url))

    connector.deliver([item_for(call_event())])

    [update] = portal.fake.requests_to("POST", "/contacts/batch/update")
    assert "lifecyclestage" not in update.body["inputs"][0]["properties"]
    assert portal.fake.store.get("contacts", customer).properties["lifecyclestage"] == "customer"


def test_plain_http_recording_is_left_out_and_spam_is_not_sent(portal, redis_url):
    connector = make_connector(portal.url, shared_context(redis_url))
    spam = item_for(call_event(call_id="spam", spam=True))
    assert spam.records == []

    result = connector.deliver(
        [item_for(call_event(recording_url="http://insecure.example.com/r.mp3")), spam]
    )

    [call] = portal.records("calls")
    assert "hs_call_recording_url" not in call["properties"]
    skipped = result.outcomes["dlv-spam-call.completed"]
    assert isinstance(skipped, Skipped)
    assert skipped.reason == "no_records"


def test_caller_without_number_gets_an_unassociated_call(portal, redis_url):
    connector = make_connector(portal.url, shared_context(redis_url))

    result = connector.deliver([item_for(call_event(number=None))])

    outcome = result.outcomes["dlv-call-1-call.completed"]
    assert isinstance(outcome, Delivered)
    assert portal.records("contacts") == []
    [call] = portal.records("calls")
    assert call["associations"] == {"contacts": []}


def test_unknown_target_is_a_mapping_error(portal, redis_url):
    from dataclasses import replace

    connector = make_connector(portal.url, shared_context(redis_url))
    item = item_for(call_event())
    odd = replace(item, records=[replace(item.records[0], target="deals")])

    outcome = connector.deliver([odd]).outcomes[item.delivery_id]

    assert isinstance(outcome, PermanentError)
    assert outcome.reason == "mapping"


def test_retry_after_partial_progress_does_not_duplicate(portal, redis_url):
    connector = make_connector(portal.url, shared_context(redis_url))
    portal.fake.faults.add(Fault("status", path="/calls/batch/upsert", status=503))

    outcomes, retried = deliver_until_settled(connector, [item_for(call_event())])

    assert [e.reason for e in retried] == ["unavailable"]
    assert all(isinstance(o, Delivered) for o in outcomes.values())
    assert len(portal.records("contacts")) == 1
    assert len(portal.records("calls")) == 1
