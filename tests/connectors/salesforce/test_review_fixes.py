"""Regressions from review: idempotent Lead creation, login errors, history masking, call ordering."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from connectors.base import LOCAL_RETRY_REASONS, Delivered, PermanentError, RetryableError
from connectors.salesforce.errors import classify, error_entries, from_entries
from connectors.salesforce.options import mapping_problems
from hub.coordination import MemoryStateStore
from hub.core.events import CallEvent
from tests.connectors.salesforce.calls import STARTED, call, connector, item, updated
from tests.connectors.salesforce.conftest import FakeOrg

NUMBER = "+14705550183"


def at(event: CallEvent, minutes: int) -> CallEvent:
    """`event` as a call that started `minutes` after the fixture's start time."""
    started = STARTED + timedelta(minutes=minutes)
    return dataclasses.replace(
        event,
        call=dataclasses.replace(event.call, started_at=started),
        occurred_at=started + timedelta(minutes=7),
    )


# --- 1: a Lead create whose response is lost never makes a second Lead -------------------------


def test_a_lead_create_whose_response_is_lost_is_not_duplicated_on_retry(
    fake: FakeOrg, redis_url: str
) -> None:
    fake.search_lag(True)  # the retry's phone search cannot see the Lead yet
    sf = connector(fake.url, redis_url, MemoryStateStore())
    real = sf.api.session.request
    armed = {"on": True}

    def lose_lead_response(method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        response = real(method, url, *args, **kwargs)
        if armed["on"] and "/composite/sobjects" in url and "Lead" in str(kwargs.get("json")):
            armed["on"] = False
            raise requests.ReadTimeout("read timed out after Salesforce committed")
        return response

    sf.api.session.request = lose_lead_response  # type: ignore[method-assign,assignment]
    first = sf.send([item(call("CAL1"))]).outcomes["evt_CAL1_call.completed"]
    assert isinstance(first, RetryableError)

    second = sf.send([item(call("CAL1"))]).outcomes["evt_CAL1_call.completed"]

    assert isinstance(second, Delivered), second
    leads = fake.records("Lead")
    assert len(leads) == 1
    assert leads[0]["Callhub_Caller_E164__c"] == NUMBER
    assert second.external_ids["Lead"] == leads[0]["Id"]
    assert len(fake.records("Task")) == 1


def test_a_lead_the_hub_created_is_found_by_its_key_and_keeps_corrected_fields(
    fake: FakeOrg, redis_url: str
) -> None:
    fake.search_lag(True)
    lead_id = fake.seed(
        "Lead", LastName="Vega", FirstName="Marisol", Company="Vega Homes", Callhub_Caller_E164__c=NUMBER
    )

    # No memory of the Lead (a new hub state), and phone search does not see it.
    result = connector(fake.url, redis_url, MemoryStateStore()).send([item(call("CAL1"))])

    outcome = result.outcomes["evt_CAL1_call.completed"]
    assert isinstance(outcome, Delivered), outcome
    assert outcome.external_ids["Lead"] == lead_id
    (lead,) = fake.records("Lead")
    assert (lead["LastName"], lead["Company"]) == ("Vega", "Vega Homes")


def test_lead_key_field_must_be_an_api_name() -> None:
    assert mapping_problems("Lead", {"key_field": "Callhub_Caller_E164__c"}) == []
    assert mapping_problems("Lead", {"key_field": "x; DELETE"})


# --- 4: only wrong credentials are a permanent login failure ------------------------------------


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        ("INVALID_LOGIN", False),
        ("sf:INVALID_LOGIN", False),
        ("invalid_grant", False),
        ("invalid_client_id", False),
        ("invalid_client", False),
        ("unknown_error", True),
        ("SERVER_UNAVAILABLE", True),
        (503, True),
        (500, True),
        (None, True),
    ],
)
def test_login_failures_are_permanent_only_for_bad_credentials(code: Any, retryable: bool) -> None:
    error = classify(SalesforceAuthenticationFailed(code, "refused"))

    assert error.retryable is retryable
    if not retryable:
        assert isinstance(error, PermanentError)
        assert error.reason == "unauthorized"


def test_a_login_endpoint_in_maintenance_is_retried(fake: FakeOrg, redis_url: str) -> None:
    sf = connector(fake.url, redis_url, MemoryStateStore())
    real = sf.api.session.request

    def maintenance(method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        if url.endswith("/services/oauth2/token") or "/services/Soap/" in url:
            response = requests.Response()
            response.status_code = 503
            response._content = b"<html>Service Unavailable: maintenance</html>"
            response.url = url
            return response
        return real(method, url, *args, **kwargs)

    sf.api.session.request = maintenance  # type: ignore[method-assign,assignment]
    outcome = sf.send([item(call("CAL9"))]).outcomes["evt_CAL9_call.completed"]

    assert isinstance(outcome, RetryableError), outcome


# --- 8 and P3: save-level and request-level codes that mean "not now" --------------------------


def test_request_limit_exceeded_waits_without_spending_the_budget() -> None:
    error = from_entries(
        error_entries({"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "limit"}), status=403
    )

    assert isinstance(error, RetryableError)
    assert error.reason in LOCAL_RETRY_REASONS
    assert (error.retry_after or 0) >= 900


@pytest.mark.parametrize("code", ["CANNOT_UPDATE_CONVERTED_LEAD", "ENTITY_IS_DELETED"])
def test_a_record_converted_or_deleted_since_lookup_is_retried(code: str) -> None:
    error = from_entries(error_entries([{"statusCode": code, "message": "gone", "fields": []}]))

    assert isinstance(error, RetryableError)


# --- 5: no caller number in clear in the exchange history ---------------------------------------


def test_exchanges_never_hold_the_callers_number(fake: FakeOrg, redis_url: str) -> None:
    fake.seed("Contact", LastName="Known", Phone="(470) 555-0184")
    result = connector(fake.url, redis_url, MemoryStateStore()).send(
        [item(call("CAL2")), item(call("CAL3", "+14705550184"))]
    )

    assert all(isinstance(o, Delivered) for o in result.outcomes.values()), result.outcomes
    assert result.exchanges
    for exchange in result.exchanges:
        for digits in ("4705550183", "470) 555-0184", "4705550184"):
            assert digits not in exchange.url
            assert digits not in exchange.request_body
            assert digits not in exchange.response_body


# --- 7: an older call retried late never overwrites a newer call's values ----------------------


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
