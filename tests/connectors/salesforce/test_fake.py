"""The fake answers plain simple-salesforce the way Salesforce does (shapes, codes, limits)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)
from simple_salesforce.format import format_external_id, format_soql

from connectors import registry
from connectors.salesforce.transport import ToLocalHTTP
from tests.connectors.salesforce.conftest import FakeOrg


@pytest.fixture
def sf(fake: FakeOrg) -> Iterator[Any]:
    session = requests.Session()
    session.trust_env = False
    session.mount("https://", ToLocalHTTP(fake.url.removeprefix("http://")))
    # Client credentials at a My Domain (the fake accepts any client when none is configured).
    yield Salesforce(consumer_key="ck", consumer_secret="cs", domain="acme.my", session=session)
    session.close()


def _error(exc: pytest.ExceptionInfo[Exception]) -> dict[str, object]:
    content = exc.value.content  # type: ignore[attr-defined]
    assert isinstance(content, list)
    return dict(content[0])


def test_create_and_get(sf: Any) -> None:
    created = sf.Lead.create({"LastName": "Vega", "Company": "Vega Homes", "Phone": "(470) 555-0183"})
    record = sf.Lead.get(created["id"])

    assert created["success"] is True
    assert created["id"].startswith("00Q")
    assert record["attributes"]["type"] == "Lead"
    assert record["Status"] == "Open - Not Contacted"
    assert record["IsConverted"] is False


def test_missing_required_fields_answer_like_salesforce(sf: Any) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Lead.create({"LastName": "Vega"})

    assert _error(exc) == {
        "message": "Required fields are missing: [Company]",
        "errorCode": "REQUIRED_FIELD_MISSING",
        "fields": ["Company"],
    }


def test_read_only_and_create_only_fields_are_refused(sf: Any) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Lead.create({"LastName": "Vega", "Company": "V", "IsConverted": True})
    assert _error(exc)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"

    task = sf.Task.create({"Subject": "Call", "TaskSubtype": "Call"})
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Task.update(task["id"], {"TaskSubtype": "Email"})
    assert _error(exc)["fields"] == ["TaskSubtype"]


def test_upsert_by_external_id_creates_then_updates(sf: Any) -> None:
    external = format_external_id("Call_Tracking_Id__c", "callrail:CAL/1?x")
    first = sf.Task.upsert(external, {"Subject": "Inbound call"}, raw_response=True)
    second = sf.Task.upsert(external, {"Subject": "Voicemail"}, raw_response=True)

    assert (first.status_code, first.json()["created"]) == (201, True)
    assert (second.status_code, second.json()["created"]) == (200, False)
    assert sf.Task.get(first.json()["id"])["Subject"] == "Voicemail"


def test_converted_leads_cannot_be_updated(sf: Any, fake: FakeOrg) -> None:
    lead = sf.Lead.create({"LastName": "Vega", "Company": "V"})["id"]
    contact = fake.convert(lead)

    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Lead.update(lead, {"Status": "Working - Contacted"})

    assert _error(exc)["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    assert sf.Lead.get(lead)["ConvertedContactId"] == contact


def test_soql_subset_with_escaped_values(sf: Any) -> None:
    sf.Lead.create({"LastName": "O'Brien", "Company": "V", "Phone": "4705550183"})
    sf.Lead.create({"LastName": "Other", "Company": "V"})

    found = sf.query(format_soql("SELECT Id, LastName FROM Lead WHERE LastName IN {} AND IsConverted = false",
                                 ["O'Brien", "x"]))  # fmt: skip

    assert [r["LastName"] for r in found["records"]] == ["O'Brien"]
    assert found["totalSize"] == 1
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id FROM Lead WHERE LastName = 'O'Brien'")
    assert _error(exc)["errorCode"] == "MALFORMED_QUERY"


def test_phone_search_ignores_the_stored_format(sf: Any) -> None:
    for phone in ("(470) 555-0183", "+1 470-555-0183", "470.555.0183", "+14045550100"):
        sf.Lead.create({"LastName": "X", "Company": "V", "Phone": phone})
    contact = sf.Contact.create({"LastName": "Y", "MobilePhone": "4705550183"})["id"]

    found = sf.search("FIND {4705550183} IN PHONE FIELDS RETURNING Lead(Id, Phone), Contact(Id)")

    records = found["searchRecords"]
    assert sorted(r["Phone"] for r in records if r["attributes"]["type"] == "Lead") == [
        "(470) 555-0183", "+1 470-555-0183", "470.555.0183"]  # fmt: skip
    assert [r["Id"] for r in records if r["attributes"]["type"] == "Contact"] == [contact]


def test_unescaped_sosl_reserved_characters_are_refused(sf: Any) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.search("FIND {+1(470)555-0183} IN PHONE FIELDS RETURNING Lead(Id)")

    assert _error(exc)["errorCode"] == "MALFORMED_SEARCH"


def test_collections_are_capped_at_200_and_report_statuscode(sf: Any) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("composite/sobjects", method="POST", json={
            "records": [{"attributes": {"type": "Task"}, "Subject": "x"}] * 201})  # fmt: skip
    assert _error(exc)["errorCode"] == "EXCEEDED_ID_LIMIT"

    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Task"}, "Subject": "ok"}, {"attributes": {"type": "Lead"}, "LastName": "x"}]})  # fmt: skip
    assert results[0]["success"] is True
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"


def test_all_or_none_rolls_back_every_record(sf: Any, fake: FakeOrg) -> None:
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Task"}, "Subject": "ok"}, {"attributes": {"type": "Lead"}, "LastName": "x"}]})  # fmt: skip

    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert fake.records("Task") == []


def test_composite_references_earlier_results(sf: Any) -> None:
    answer = sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Lead", "referenceId": "lead",
         "body": {"LastName": "Vega", "Company": "V"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Task", "referenceId": "task",
         "body": {"Subject": "Call", "WhoId": "@{lead.id}"}},
    ]})  # fmt: skip

    lead, task = answer["compositeResponse"]
    assert (lead["httpStatusCode"], task["httpStatusCode"]) == (201, 201)
    assert sf.Task.get(task["body"]["id"])["WhoId"] == lead["body"]["id"]


def test_limit_info_header_and_the_daily_limit(sf: Any, fake: FakeOrg) -> None:
    fake.usage(used=41, limit=43)
    sf.query("SELECT Id FROM Lead")
    assert sf.api_usage["api-usage"].used == 42
    assert sf.api_usage["api-usage"].total == 43
    sf.query("SELECT Id FROM Lead")

    with pytest.raises(SalesforceRefusedRequest) as exc:
        sf.query("SELECT Id FROM Lead")
    assert _error(exc)["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_expired_session_answers_invalid_session_id(sf: Any, fake: FakeOrg) -> None:
    fake.fault("INVALID_SESSION_ID")
    # simple-salesforce logged in itself, so it logs in again on the 401 and retries.
    sf.query("SELECT Id FROM Lead")
    assert fake.requests()["logins"] == 2

    direct = Salesforce(
        instance_url="https://x.my.salesforce.com", session_id="00Dbogus!x", session=sf.session
    )
    with pytest.raises(SalesforceExpiredSession) as exc:
        direct.query("SELECT Id FROM Lead")
    assert _error(exc)["errorCode"] == "INVALID_SESSION_ID"


def test_describe_has_the_custom_fields_and_rules(sf: Any) -> None:
    lead = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    task = {f["name"]: f for f in sf.Task.describe()["fields"]}

    assert (lead["LastName"]["nillable"], lead["LastName"]["length"]) == (False, 80)
    assert lead["IsConverted"]["createable"] is False
    assert "Working - Contacted" in [v["value"] for v in lead["Status"]["picklistValues"]]
    assert task["Call_Tracking_Id__c"]["externalId"] is True
    assert task["TaskSubtype"]["updateable"] is False


def test_soap_login_failure(fake_server: object) -> None:
    from connectors.salesforce.fake import create_app
    from hub.local_server import LocalServer

    app = create_app(username="u", password="p", security_token="t", soap_login=True)
    with LocalServer(app) as server:
        session = requests.Session()
        session.trust_env = False
        session.mount("https://", ToLocalHTTP(server.url.removeprefix("http://")))
        with pytest.raises(SalesforceAuthenticationFailed) as exc:
            Salesforce(username="u", password="p", security_token="wrong", session=session)
    assert exc.value.code == "INVALID_LOGIN"


def test_soap_login_is_disabled_by_default_like_a_new_org(fake_server: object) -> None:
    from connectors.salesforce.fake import create_app
    from hub.local_server import LocalServer

    with LocalServer(create_app(username="u", password="p", security_token="t")) as server:
        session = requests.Session()
        session.trust_env = False
        session.mount("https://", ToLocalHTTP(server.url.removeprefix("http://")))
        with pytest.raises(SalesforceAuthenticationFailed) as exc:
            Salesforce(username="u", password="p", security_token="t", session=session, version="64.0")
        assert exc.value.code == "INVALID_OPERATION"
        assert "disabled" in str(exc.value)
        # API 65.0 and later have no login() at all, enabled or not.
        with pytest.raises(SalesforceAuthenticationFailed) as exc:
            Salesforce(username="u", password="p", security_token="t", session=session, version="65.0")
        assert exc.value.code == "UNSUPPORTED_API_VERSION"


def test_the_registry_finds_the_fake() -> None:
    app = registry.sandbox_app("salesforce")
    assert app is not None
    assert app.test_client().get("/__fake__/requests").json["api_requests"] == 0


def test_client_credentials_are_refused_at_the_shared_login_host(fake: FakeOrg) -> None:
    session = requests.Session()
    session.trust_env = False
    session.mount("https://", ToLocalHTTP(fake.url.removeprefix("http://")))

    refused = session.post(
        "https://login.salesforce.com/services/oauth2/token", data={"grant_type": "client_credentials"},
        auth=("ck", "cs"),
    )  # fmt: skip
    accepted = session.post(
        "https://acme.my.salesforce.com/services/oauth2/token", data={"grant_type": "client_credentials"},
        auth=("ck", "cs"),
    )  # fmt: skip

    assert (refused.status_code, refused.json()) == (
        400,
        {"error": "invalid_grant", "error_description": "request not supported on this domain"},
    )
    assert accepted.status_code == 200
