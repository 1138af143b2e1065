"""Each class of HubSpot failure ends as the right delivery error, per record where HubSpot says so."""

from __future__ import annotations

import pytest

from connectors.base import Delivered, DeliveryItem, PermanentError, RetryableError
from connectors.hubspot.fake.faults import Fault
from tests.connectors.hubspot.harness import (
    call_event,
    deliver_until_settled,
    errors_in,
    item_for,
    make_connector,
    shared_context,
)


def _items(count: int) -> list[DeliveryItem]:
    return [item_for(call_event(f"+1415555{index:04d}", f"call-{index}")) for index in range(count)]


def test_207_partial_failure_rejects_only_the_invalid_record_and_retries_the_failed_one(
    portal_factory, redis_url
):
    # A portal answering per record (207), the form HubSpot documents for batch create.
    portal = portal_factory(batch_errors="per_record", rate_limit=100_000, search_rate_limit=100_000)
    connector = make_connector(portal.url, shared_context(redis_url))
    portal.fake.faults.add(
        Fault(
            "record_errors",
            path="/calls/batch/upsert",
            category="VALIDATION_ERROR",
            message="Property values were not valid: hs_call_status",
            match={"hs_call_from_number": "+14155550001"},
        )
    )
    portal.fake.faults.add(
        Fault(
            "record_errors",
            path="/calls/batch/upsert",
            category="INTERNAL_ERROR",
            message="Temporary failure",
            match={"hs_call_from_number": "+14155550002"},
        )
    )
    items = _items(5)

    first = connector.deliver(items)

    failed = errors_in(first.outcomes)
    assert set(failed) == {"dlv-call-1-call.completed"}, first.outcomes
    assert isinstance(failed["dlv-call-1-call.completed"], PermanentError)
    assert "hs_call_status" in failed["dlv-call-1-call.completed"].message
    assert sum(isinstance(o, Delivered) for o in first.outcomes.values()) == 4
    # The second fault answers the next batch: only that record is retried, then succeeds.
    second = connector.deliver([items[2], items[3]])
    assert isinstance(second.outcomes["dlv-call-2-call.completed"], RetryableError)
    assert isinstance(second.outcomes["dlv-call-3-call.completed"], Delivered)
    third = connector.deliver([items[2]])
    assert isinstance(third.outcomes["dlv-call-2-call.completed"], Delivered)
    assert len(portal.records("calls")) == 4
    assert len(portal.records("contacts")) == 5


def test_2xx_that_reports_errors_is_a_failure_for_those_records(portal, redis_url):
    connector = make_connector(portal.url, shared_context(redis_url))
    portal.fake.faults.add(
        Fault(
            "ok_with_errors",
            path="/contacts/batch/create",
            match={"phone": "+14155550000"},
            category="INTERNAL_ERROR",
        )
    )

    result = connector.deliver(_items(3))

    outcome = result.outcomes["dlv-call-0-call.completed"]
    assert isinstance(outcome, RetryableError)
    assert sum(isinstance(o, Delivered) for o in result.outcomes.values()) == 2
    assert portal.fake.requests_to("POST", "/contacts/batch/create")[0].status == 201


def test_write_that_returns_no_record_is_retried_without_duplicates(portal, redis_url):
    connector = make_connector(portal.url, shared_context(redis_url))
    portal.fake.faults.add(Fault("no_record", path="/calls/batch/upsert"))

    outcomes, retried = deliver_until_settled(connector, _items(2))

    assert {e.reason for e in retried} == {"unavailable"}
    assert "no record" in retried[0].message
    assert all(isinstance(o, Delivered) for o in outcomes.values())
    assert len(portal.records("calls")) == 2


def test_association_answering_2xx_with_errors_is_a_failure(portal, redis_url):
    connector = make_connector(portal.url, shared_context(redis_url))
    portal.fake.faults.add(Fault("record_errors", path="/associate/default", category="INTERNAL_ERROR"))

    outcomes, retried = deliver_until_settled(connector, _items(1))

    assert [e.reason for e in retried] == ["unavailable"]
    assert all(isinstance(o, Delivered) for o in outcomes.values())
    [call] = portal.records("calls")
    assert len(call["associations"]["contacts"]) == 1


def test_bad_token_is_rejected_with_a_credential_message(portal, redis_url):
    connector = make_connector(portal.url, shared_context(redis_url), token="pat-na1-wrong")

    outcome = connector.deliver(_items(1)).outcomes["dlv-call-0-call.completed"]

    assert isinstance(outcome, PermanentError)
    assert outcome.reason == "unauthorized"
    assert "access token" in outcome.message
    assert "pat-na1-wrong" not in outcome.message


def test_missing_scope_is_rejected_with_hubspots_message(portal, redis_url):
    connector = make_connector(portal.url, shared_context(redis_url))
    portal.fake.faults.add(
        Fault(
            "status",
            status=403,
            category="MISSING_SCOPES",
            message="This app hasn't been granted all required scopes",
        )
    )

    outcome = connector.deliver(_items(1)).outcomes["dlv-call-0-call.completed"]

    assert isinstance(outcome, PermanentError)
    assert outcome.reason == "unauthorized"
    assert "granted all required scopes" in outcome.message


def test_portal_without_the_custom_properties_rejects_with_hubspots_message(portal_factory, redis_url):
    portal = portal_factory(custom_properties=False)
    connector = make_connector(portal.url, shared_context(redis_url))

    outcome = connector.deliver(_items(1)).outcomes["dlv-call-0-call.completed"]

    assert isinstance(outcome, PermanentError)
    assert outcome.reason == "rejected"
    assert "callhub_caller_e164" in outcome.message


def test_bad_option_value_is_rejected_with_hubspots_message(portal, redis_url):
    from dataclasses import replace

    connector = make_connector(portal.url, shared_context(redis_url))
    item = item_for(call_event())
    contact = next(r for r in item.records if r.target == "contacts")
    odd = replace(item, records=[replace(contact, fields={**contact.fields, "hs_lead_status": "MAYBE"})])

    outcome = connector.deliver([odd]).outcomes[item.delivery_id]

    assert isinstance(outcome, PermanentError)
    assert "INVALID_OPTION" in outcome.message
    assert "MAYBE" in outcome.message


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried(portal, redis_url, status):
    connector = make_connector(portal.url, shared_context(redis_url))
    portal.fake.faults.add(Fault("status", status=status, path="/contacts/search"))

    outcome = connector.deliver(_items(1)).outcomes["dlv-call-0-call.completed"]

    assert isinstance(outcome, RetryableError)
    assert outcome.reason == "unavailable"


def test_429_honours_retry_after(portal, redis_url):
    connector = make_connector(portal.url, shared_context(redis_url))
    portal.fake.faults.add(
        Fault(
            "status",
            status=429,
            category="RATE_LIMITS",
            message="You have reached your ten_secondly_rolling limit.",
            retry_after="7",
        )
    )

    outcome = connector.deliver(_items(1)).outcomes["dlv-call-0-call.completed"]

    assert isinstance(outcome, RetryableError)
    assert outcome.reason == "rate_limited"
    assert outcome.retry_after == 7.0


def test_429_from_the_portals_own_limit_is_retried_after_its_window(portal_factory, redis_url):
    # No shared limiter on the hub's side: the portal's (scaled-down) limit answers 429.
    # Room for one batch's requests per window (the first also asks how calls are keyed).
    portal = portal_factory(rate_limit=5, rate_window_s=0.5)
    connector = make_connector(portal.url, shared_context(redis_url))

    outcomes, retried = deliver_until_settled(connector, _items(10), batch_size=5)

    assert portal.fake.limits.rejected > 0
    assert {e.reason for e in retried} == {"rate_limited"}
    assert {e.retry_after for e in retried} == {0.5}
    assert all(isinstance(o, Delivered) for o in outcomes.values()), outcomes
    assert len(portal.records("calls")) == 10
    assert len(portal.records("contacts")) == 10


def test_search_limit_429_is_retried(portal_factory, redis_url):
    portal = portal_factory(search_rate_limit=1, search_window_s=0.3)
    connector = make_connector(portal.url, shared_context(redis_url))

    outcomes, retried = deliver_until_settled(connector, _items(2), batch_size=1)

    assert {e.reason for e in retried} == {"rate_limited"}
    assert all(isinstance(o, Delivered) for o in outcomes.values())
    assert len(portal.records("contacts")) == 2
