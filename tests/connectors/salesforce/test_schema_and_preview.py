"""describe, preview, options and mapping checks: what `hub check` and `hub preview` rely on.

What every connector must do (check, classify, preview, replay, masking) is in tests/connectors/test_contract.py."""

from __future__ import annotations

import pytest

from connectors.base import MemoryContext
from connectors.salesforce import SalesforceConnector
from connectors.salesforce.lookup import person_state_key
from connectors.salesforce.phones import phone_search, sosl_term
from hub.mapping import lint_against_schema
from tests.connectors.salesforce.calls import MAPPINGS, call, connector, item, mapping, settings
from tests.connectors.salesforce.conftest import FakeOrg


def test_describe_gives_the_live_schema_with_the_hubs_own_fields(fake: FakeOrg, redis_url: str) -> None:
    lead = connector(fake.url, redis_url).describe("Lead")

    assert lead is not None
    assert not lead.fields["LastName"].required  # the hub fills a default
    assert lead.fields["LastName"].max_length == 80
    assert lead.fields["Email"].max_length == 80
    assert not lead.fields["Phone"].required
    assert not lead.fields["Status"].required  # it has a default
    assert "Working - Contacted" in (lead.fields["Status"].picklist or ())
    assert lead.fields["LeadSource"].picklist is None  # not restricted: any value is accepted
    assert not lead.fields["IsConverted"].createable
    assert lead.fields["owner_email"].type == "email"
    assert connector(fake.url, redis_url).describe("Opportunity") is None
    campaign = connector(fake.url, redis_url).describe("Campaign")
    assert campaign is None


def test_describe_marks_fields_salesforce_requires(fake: FakeOrg, redis_url: str) -> None:
    task = connector(fake.url, redis_url).describe("Task")

    assert task is not None
    assert not task.fields["TaskSubtype"].updateable
    assert task.fields["CallType"].picklist == ("Internal", "Inbound", "Outbound")


@pytest.mark.parametrize("path", MAPPINGS, ids=lambda p: p.stem)
def test_shipped_mappings_fit_the_fake_orgs_schema(fake: FakeOrg, redis_url: str, path) -> None:
    loaded = mapping(path)
    schema = connector(fake.url, redis_url).describe(loaded.target)

    assert schema is not None
    assert lint_against_schema(loaded, schema) == []


def test_preview_plans_without_sending(fake: FakeOrg) -> None:
    sf = SalesforceConnector(settings(fake.url), MemoryContext())
    planned = sf.preview(item(call("CAL1")))

    assert [p.method for p in planned][:3] == ["GET", "GET", "PATCH"]
    assert "IN PHONE FIELDS" in planned[0].body["q"]
    assert "Callhub_Caller_E164__c" in planned[1].body["q"]
    assert planned[2].url.endswith("composite/sobjects/Lead/Callhub_Caller_E164__c")
    assert any(p.url.endswith("composite/sobjects/Task/Call_Tracking_Id__c") for p in planned)
    assert fake.api_requests() == 0


def test_preview_of_a_known_caller_plans_no_create(fake: FakeOrg) -> None:
    context = MemoryContext(
        {person_state_key("+14705550183"): {"sobject": "Lead", "id": "00Q000000000009AAA"}}
    )
    planned = SalesforceConnector(settings(fake.url), context).preview(item(call("CAL1")))

    assert not any("create the Lead" in p.note for p in planned)


def test_option_problems() -> None:
    assert (
        SalesforceConnector.option_problems({"on_multiple_matches": "most_recent", "reserve_share": 0.3})
        == []
    )
    problems = SalesforceConnector.option_problems(
        {"on_multiple_matches": "newest", "reserve_share": 1.5, "default_owner_id": "bob", "colour": "red"}
    )
    assert len(problems) == 4


def test_mapping_problems() -> None:
    assert SalesforceConnector.mapping_problems("Task", {"call_id_field": "Call_Tracking_Id__c"}) == []
    assert SalesforceConnector.mapping_problems("Opportunity", {}) != []
    assert SalesforceConnector.mapping_problems("Lead", {"create_only": "LastName"}) != []
    assert SalesforceConnector.mapping_problems("Task", {"call_id_field": "Call Id"}) != []
    [missing] = SalesforceConnector.mapping_problems("Task", {})
    assert "call_id_field" in missing
    assert "never logged twice" in missing


def test_sosl_is_built_from_digits_only() -> None:
    assert sosl_term("} OR {*") == "OR"
    sosl = phone_search(["+14705550183", "+442071234567"], ["Lead(Id)"])
    assert sosl == "FIND {2071234567 OR 4705550183} IN PHONE FIELDS RETURNING Lead(Id)"
