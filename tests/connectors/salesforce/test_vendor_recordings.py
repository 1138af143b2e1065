"""Salesforce's documented answers, replayed through the real simple-salesforce client to the connector.

The fakes are checked against the vendor this way, not only against themselves: each recording in
tests/fixtures/vendors/salesforce names the page it comes from.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.base import Delivered, PermanentError, RetryableError
from connectors.salesforce import SalesforceConnector
from connectors.salesforce.fake import create_app
from hub.coordination import MemoryStateStore
from hub.local_server import LocalServer
from tests.connectors.salesforce.calls import AGENT, CAMPAIGN, call, item, settings, shared_context
from tests.connectors.salesforce.replay import Replay, fixture

DELIVERY = "evt_CAL1_call.completed"
PRIVATE_KEY = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    .decode()
)
JWT = {"username": "integration@peachtree.example", "consumer_key": "3MVG9ck", "private_key": PRIVATE_KEY}


class Served:
    def __init__(self, url: str, replay: Replay) -> None:
        self.url = url
        self.replay = replay
        self.http = requests.Session()
        self.http.trust_env = False

    def connector(self, state: MemoryStateStore | None = None) -> SalesforceConnector:
        return SalesforceConnector(
            settings(self.url, JWT, domain="peachtree.my"), shared_context(self.redis_url, state)
        )

    def records(self, sobject: str) -> list[dict[str, Any]]:
        return list(self.http.get(f"{self.url}/__fake__/records/{sobject}").json()["records"])

    def logins(self) -> int:
        return int(self.http.get(f"{self.url}/__fake__/requests").json()["logins"])

    redis_url = ""


@pytest.fixture
def serve(redis_url: str) -> Iterator[Any]:
    servers: list[LocalServer] = []

    def start(name: str, **org: Any) -> Served:
        app = create_app(users=[{"Email": AGENT, "LastName": "Brooks"}], campaigns=[CAMPAIGN], **org)
        replay = Replay(app.wsgi_app, fixture(name))
        app.wsgi_app = replay  # type: ignore[method-assign]
        server = LocalServer(app).start()
        servers.append(server)
        served = Served(server.url, replay)
        served.redis_url = redis_url
        return served

    yield start
    for server in servers:
        server.stop()


def test_an_expired_session_logs_in_again_and_delivers(serve: Any) -> None:
    org = serve("rest_invalid_session_id.json")

    outcome = org.connector().send([item(call("CAL1"))]).outcomes[DELIVERY]

    assert org.replay.served == 1
    assert isinstance(outcome, Delivered), outcome
    assert org.logins() == 2


def test_the_orgs_spent_allocation_waits_without_spending_retries(serve: Any) -> None:
    org = serve("rest_request_limit_exceeded.json")

    outcome = org.connector().send([item(call("CAL1"))]).outcomes[DELIVERY]

    assert isinstance(outcome, RetryableError), outcome
    assert outcome.reason == "quota_reserve"
    assert outcome.retry_after == 900.0
    assert "TotalRequests Limit exceeded." in outcome.message


@pytest.mark.parametrize(
    "name", ["collections_duplicates_detected.json", "collections_duplicates_detected_misspelled.json"]
)
def test_a_blocked_duplicate_links_the_call_to_the_matched_lead(serve: Any, name: str) -> None:
    org = serve(name)
    requests.post(f"{org.url}/__fake__/records/Lead", json={"Id": "00Q5e00000DupLeadA", "LastName": "Vega",
                  "Company": "Vega Homes"}, timeout=5)  # fmt: skip

    outcome = org.connector().send([item(call("CAL1"))]).outcomes[DELIVERY]

    assert isinstance(outcome, Delivered), outcome
    assert outcome.external_ids["Lead"] == "00Q5e00000DupLeadA"
    assert "duplicate rule matched Lead 00Q5e00000DupLeadA" in outcome.note
    [task] = org.records("Task")
    assert task["WhoId"] == "00Q5e00000DupLeadA"


def test_a_refused_lead_is_rejected_with_salesforces_words_and_no_task(serve: Any) -> None:
    org = serve("collections_field_integrity_exception.json")

    outcome = org.connector().send([item(call("CAL1"))]).outcomes[DELIVERY]

    assert isinstance(outcome, PermanentError), outcome
    assert outcome.reason == "rejected"
    assert "FIELD_INTEGRITY_EXCEPTION: There's a problem with this state" in outcome.message
    assert "the call's Task was not written" in outcome.message
    assert outcome.details["errors"][0]["fields"] == ["State"]
    assert org.records("Task") == []


def test_a_partial_failure_settles_each_call_on_its_own(serve: Any) -> None:
    org = serve("collections_partial_failure.json")
    first, second = call("CAL1"), call("CAL2", "+14045550111", name="Second Caller")

    outcomes = org.connector().send([item(first), item(second)]).outcomes

    delivered = outcomes[first.id]
    assert isinstance(delivered, Delivered), delivered
    assert delivered.external_ids["Task"] == "00TRM000003oLrHYAU"
    failed = outcomes[second.id]
    assert isinstance(failed, PermanentError), failed
    assert "MALFORMED_ID: Contact ID: id value of incorrect type" in failed.message


@pytest.mark.parametrize("name", ["oauth_invalid_grant_audience.json", "oauth_invalid_client_id.json"])
def test_a_refused_oauth_login_is_permanent_and_keeps_no_secret(serve: Any, name: str) -> None:
    org = serve(name)
    recorded = fixture(name)["body"]

    outcome = org.connector().send([item(call("CAL1"))]).outcomes[DELIVERY]

    assert isinstance(outcome, PermanentError), outcome
    assert outcome.reason == "unauthorized"
    assert recorded["error_description"] in outcome.message
    assert PRIVATE_KEY not in outcome.message
