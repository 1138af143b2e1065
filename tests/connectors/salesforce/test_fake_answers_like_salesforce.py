"""The fake's answers match the bodies recorded from Salesforce's documentation (same codes, keys, words)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
import requests

from tests.connectors.salesforce.conftest import FakeOrg
from tests.connectors.salesforce.replay import fixture

BASE = "/services/data/v64.0"


@pytest.fixture
def http(fake: FakeOrg) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    token = session.post(
        f"{fake.url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=("ck", "cs"),
        timeout=5,
    ).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def _upsert_lead(fake: FakeOrg, http: requests.Session, **fields: Any) -> dict[str, Any]:
    body = {"allOrNone": False, "records": [{"attributes": {"type": "Lead"}, "LastName": "Vega", "Company": "x",
                                             "Callhub_Caller_E164__c": "+14705550183", **fields}]}  # fmt: skip
    answer = http.patch(
        f"{fake.url}{BASE}/composite/sobjects/Lead/Callhub_Caller_E164__c", json=body, timeout=5
    )
    assert answer.status_code == 200
    [result] = answer.json()
    return dict(result)


def test_an_expired_session(fake: FakeOrg, http: requests.Session) -> None:
    recorded = fixture("rest_invalid_session_id.json")
    fake.http.post(f"{fake.url}/__fake__/sessions/expire")

    answer = http.get(f"{fake.url}{BASE}/search/", params={"q": "FIND {x}"}, timeout=5)

    assert (answer.status_code, answer.json()) == (recorded["status"], recorded["body"])


def test_the_spent_daily_allocation(fake: FakeOrg, http: requests.Session) -> None:
    recorded = fixture("rest_request_limit_exceeded.json")
    fake.usage(100_000, 100_000)

    answer = http.get(f"{fake.url}{BASE}/search/", params={"q": "FIND {x}"}, timeout=5)

    assert (answer.status_code, answer.json()) == (recorded["status"], recorded["body"])


def test_a_blocked_duplicate_has_the_recorded_shape(fake: FakeOrg, http: requests.Session) -> None:
    [recorded] = fixture("collections_duplicates_detected.json")["body"]
    fake.seed("Lead", LastName="Vega", Company="Vega Homes", Phone="(470) 555-0183")
    fake.duplicate_rules(Lead=True)

    result = _upsert_lead(fake, http, Phone="+14705550183")

    [error] = result["errors"]
    [expected] = recorded["errors"]
    assert result["success"] is False
    assert set(error) == set(expected)
    assert (error["statusCode"], error["message"]) == (expected["statusCode"], expected["message"])
    assert set(error["duplicateResult"]) == set(expected["duplicateResult"])
    assert set(error["duplicateResult"]["matchResults"][0]) == set(
        expected["duplicateResult"]["matchResults"][0]
    )


def test_a_state_code_in_the_text_field_of_a_picklist_org(fake: FakeOrg, http: requests.Session) -> None:
    [recorded] = fixture("collections_field_integrity_exception.json")["body"]
    fake.org(picklists=True)

    result = _upsert_lead(fake, http, Country="United States", State="GA")

    assert result["success"] is False
    assert result["errors"] == recorded["errors"]


def test_a_jwt_for_a_my_domain_audience(fake: FakeOrg) -> None:
    recorded = fixture("oauth_invalid_grant_audience.json")
    claims = {
        "iss": "ck",
        "sub": "u@example.com",
        "aud": "https://acme.my.salesforce.com",
        "exp": int(time.time()) + 60,
    }
    assertion = jwt.encode(claims, "any key: the sandbox org checks no signature", algorithm="HS256")

    answer = requests.post(
        f"{fake.url}/services/oauth2/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        timeout=5,
    )

    assert (answer.status_code, answer.json()) == (recorded["status"], recorded["body"])
