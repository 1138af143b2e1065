"""Lead creation is idempotent on the caller's E.164 key: a lost response never makes a second Lead."""

from __future__ import annotations

from typing import Any

import requests

from connectors.base import Delivered, RetryableError
from connectors.salesforce.options import mapping_problems
from hub.coordination import MemoryStateStore
from tests.connectors.salesforce.calls import call, connector, item
from tests.connectors.salesforce.conftest import FakeOrg

NUMBER = "+14705550183"


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
