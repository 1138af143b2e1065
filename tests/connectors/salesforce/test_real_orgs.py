"""Behaviour of real orgs the connector must survive: picklists, duplicate keys, outcomes per field."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from connectors.base import Delivered, PermanentError
from connectors.salesforce.transport import ToLocalHTTP
from hub.coordination import MemoryStateStore
from hub.core.events import CallEvent
from tests.connectors.salesforce.calls import STARTED, call, connector, item, updated
from tests.connectors.salesforce.conftest import FakeOrg

NUMBER = "+14705550183"


def at(event: CallEvent, minutes: int) -> CallEvent:
    started = STARTED + timedelta(minutes=minutes)
    return dataclasses.replace(
        event,
        call=dataclasses.replace(event.call, started_at=started),
        occurred_at=started + timedelta(minutes=7),
    )


def client(fake: FakeOrg) -> Any:
    """simple-salesforce's dynamic sObject attributes (sf.Lead) are untyped."""
    session = requests.Session()
    session.trust_env = False
    session.mount("https://", ToLocalHTTP(fake.url.removeprefix("http://")))
    return Salesforce(consumer_key="ck", consumer_secret="cs", domain="acme.my", session=session)


def _content(exc: pytest.ExceptionInfo[SalesforceMalformedRequest]) -> list[dict[str, Any]]:
    content = exc.value.content
    assert isinstance(content, list)
    return content


# --- State and Country/Territory picklists -------------------------------------------------------


def test_a_picklist_org_refuses_a_state_code_in_the_text_field(fake: FakeOrg) -> None:
    fake.org(picklists=True)

    with pytest.raises(SalesforceMalformedRequest) as exc:
        client(fake).Lead.create(
            {"LastName": "Vega", "Company": "x", "Country": "United States", "State": "GA"}
        )

    [error] = _content(exc)
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert error["message"].startswith("There's a problem with this state, even though it may appear correct")
    assert error["fields"] == ["State"]


def test_a_picklist_org_syncs_codes_and_integration_values(fake: FakeOrg) -> None:
    fake.org(picklists=True)
    sf = client(fake)

    created = sf.Lead.create({"LastName": "Vega", "Company": "x", "CountryCode": "US", "StateCode": "GA"})
    lead = sf.Lead.get(created["id"])

    assert (lead["State"], lead["Country"]) == ("Georgia", "United States")
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Lead.create({"LastName": "Vega", "Company": "x", "StateCode": "GA"})
    assert _content(exc)[0]["message"].startswith("A country/territory must be specified")
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Lead.create({"LastName": "Vega", "Company": "x", "CountryCode": "CA", "StateCode": "GA"})
    assert _content(exc)[0]["message"] == (
        "The StateCode field contains GA, which isn't an available state. Your administrator can add it for you."
    )


def test_the_connector_writes_iso_codes_in_a_picklist_org(fake: FakeOrg, redis_url: str) -> None:
    fake.org(picklists=True)

    outcome = connector(fake.url, redis_url).send([item(call("CAL1"))]).outcomes["evt_CAL1_call.completed"]

    assert isinstance(outcome, Delivered), outcome
    [lead] = fake.records("Lead")
    assert (lead["StateCode"], lead["CountryCode"]) == ("GA", "US")
    assert (lead["State"], lead["Country"]) == ("Georgia", "United States")
    assert len(fake.records("Task")) == 1


def test_a_state_the_org_does_not_list_is_left_out_with_a_note(fake: FakeOrg, redis_url: str) -> None:
    fake.org(picklists=True)
    event = call("CAL1")
    event = dataclasses.replace(event, caller=dataclasses.replace(event.caller, region="Atlantis"))

    outcome = connector(fake.url, redis_url).send([item(event)]).outcomes[event.id]

    assert isinstance(outcome, Delivered), outcome
    assert "State 'Atlantis' is not a state of the org's picklist" in outcome.note
    [lead] = fake.records("Lead")
    assert lead.get("StateCode") is None
    assert lead["CountryCode"] == "US"


def test_without_picklists_the_text_fields_are_written(fake: FakeOrg, redis_url: str) -> None:
    connector(fake.url, redis_url).send([item(call("CAL1"))])

    [lead] = fake.records("Lead")
    assert (lead["State"], lead["Country"]) == ("GA", "US")
    assert "StateCode" not in lead


def test_a_refused_lead_says_the_calls_task_was_not_written(fake: FakeOrg, redis_url: str) -> None:
    fake.fault("FIELD_INTEGRITY_EXCEPTION", scope="record", message="There's a problem with this country")

    outcome = connector(fake.url, redis_url).send([item(call("CAL1"))]).outcomes["evt_CAL1_call.completed"]

    assert isinstance(outcome, PermanentError)
    assert "FIELD_INTEGRITY_EXCEPTION" in outcome.message
    assert "the call's Task was not written" in outcome.message
    assert fake.records("Task") == []
    # Once the org accepts the Lead, replaying the delivery writes both.
    again = connector(fake.url, redis_url).send([item(call("CAL1"))]).outcomes["evt_CAL1_call.completed"]
    assert isinstance(again, Delivered)
    assert len(fake.records("Task")) == 1


# --- Duplicate rules -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["duplicateResult", "duplicateResut"])
def test_a_blocked_duplicate_is_linked_under_either_spelling(fake: FakeOrg, redis_url: str, key: str) -> None:
    fake.org(duplicate_key=key)
    fake.search_lag(True)
    existing = fake.seed("Lead", LastName="Vega", Company="Vega Homes", Phone="(470) 555-0183")
    fake.duplicate_rules(Lead=True)

    outcome = connector(fake.url, redis_url).send([item(call("CAL1"))]).outcomes["evt_CAL1_call.completed"]

    assert isinstance(outcome, Delivered), outcome
    assert outcome.external_ids["Lead"] == existing
    assert fake.records("Task")[0]["WhoId"] == existing


# --- Outcomes per field --------------------------------------------------------------------------


def test_an_earlier_calls_outcome_reaches_the_lead_after_a_newer_missed_call(
    fake: FakeOrg, redis_url: str
) -> None:
    state = MemoryStateStore()
    answered = at(call("A"), 0)
    b = at(call("B", agent=None), 60)
    missed = dataclasses.replace(b, call=dataclasses.replace(b.call, status="missed", duration_s=0))

    connector(fake.url, redis_url, state).send([item(answered)])
    connector(fake.url, redis_url, state).send([item(missed)])
    good = updated(answered, lead_status="good_lead", qualified=True, value="250.00", tags=["emergency"])
    outcome = connector(fake.url, redis_url, state).send([item(good)]).outcomes[good.id]

    assert isinstance(outcome, Delivered), outcome
    assert "later call" not in outcome.note
    [lead] = fake.records("Lead")
    assert lead["Status"] == "Working - Contacted"
    assert lead["Call_Qualified__c"] is True
    assert lead["Call_Value__c"] == 250.0
    assert lead["Call_Tags__c"] == "emergency"


def test_a_field_a_newer_call_set_keeps_its_value(fake: FakeOrg, redis_url: str) -> None:
    state = MemoryStateStore()
    connector(fake.url, redis_url, state).send([item(at(call("A"), 0))])
    newer = updated(at(call("B"), 60), lead_status="not_a_lead")
    connector(fake.url, redis_url, state).send([item(newer)])
    older = updated(at(call("A"), 0), lead_status="good_lead", value="99.00")

    outcome = connector(fake.url, redis_url, state).send([item(older)]).outcomes[older.id]

    assert isinstance(outcome, Delivered), outcome
    assert "kept the Lead's Status from a later call" in outcome.note
    [lead] = fake.records("Lead")
    assert lead["Status"] == "Closed - Not Converted"  # B set it
    assert lead["Call_Value__c"] == 99.0  # B never set a value: A's reaches the Lead
