"""Every fake stays bounded in memory in a long `hub run` and has a latency setting for the bench."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from connectors import registry
from connectors.base import FAKE_HISTORY_LIMIT
from connectors.webhook.fake import create_app as webhook_receiver
from connectors.webhook.fake.app import DEFAULT_SECRET, SIGNATURE_HEADER


@pytest.mark.parametrize("type_name", ["webhook", "hubspot", "salesforce", "ga4"])
def test_latency_is_read_and_changed_through_the_control_api(type_name: str) -> None:
    app = registry.sandbox_app(type_name)
    assert app is not None
    client = app.test_client()
    assert client.get("/__fake__/latency").json == {"seconds": 0.0}
    assert client.post("/__fake__/latency", json={"seconds": 0.2}).json == {"seconds": 0.2}
    assert client.get("/__fake__/latency").json == {"seconds": 0.2}
    for wrong in ({"seconds": -1}, {"seconds": "slow"}, {"seconds": True}, {}):
        assert client.post("/__fake__/latency", json=wrong).status_code == 400
    assert client.get("/__fake__/latency").json == {"seconds": 0.2}


def test_a_request_is_answered_once_the_latency_has_passed_and_logged_so() -> None:
    """The latency is the time to answer, the fake's own work included; its request log (what
    the bench reads a CRM's pace from) records a request answered only once it is."""
    app = registry.sandbox_app("hubspot")
    assert app is not None
    client = app.test_client()
    client.post("/__fake__/latency", json={"seconds": 0.05})

    answer = client.get("/crm/v3/owners", headers={"Authorization": "Bearer sandbox"})

    assert answer.status_code == 200
    [entry] = client.get("/__fake__/log").json["requests"]
    assert entry["answered"] - entry["arrived"] >= 0.05


def test_the_webhook_receiver_keeps_the_latest_deliveries_and_counts_all() -> None:
    client = webhook_receiver().test_client()
    extra = 5
    for index in range(FAKE_HISTORY_LIMIT + extra):
        body = json.dumps({"n": index}).encode()
        stamp = int(time.time())
        digest = hmac.new(DEFAULT_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        answer = client.post(
            "/receive",
            data=body,
            headers={SIGNATURE_HEADER: f"t={stamp},v1={digest}", "Content-Type": "application/json"},
        )
        assert answer.status_code == 200
    listing = client.get("/__fake__/requests").json
    assert listing["total"] == FAKE_HISTORY_LIMIT + extra
    assert len(listing["items"]) == FAKE_HISTORY_LIMIT
    assert [item["json"]["n"] for item in listing["items"][:2]] == [extra, extra + 1]


def test_the_webhook_receiver_keeps_only_the_latest_attempts() -> None:
    client = webhook_receiver().test_client()
    for index in range(FAKE_HISTORY_LIMIT + 3):
        # Unsigned: refused with 401, still an attempt.
        client.post("/receive", data=json.dumps({"n": index}), headers={"X-Callhub-Delivery": f"d{index}"})
    attempts = client.get("/__fake__/attempts").json["items"]
    assert len(attempts) == FAKE_HISTORY_LIMIT
    assert attempts[0]["delivery_id"] == "d3"
    assert {attempt["status"] for attempt in attempts} == {401}


def test_the_hubspot_fake_keeps_bodies_of_its_latest_requests_only() -> None:
    from connectors.hubspot.fake.app import BODY_HISTORY_LIMIT, create_app, fake_of

    app = create_app(rate_limit=10_000, search_rate_limit=10_000)
    client = app.test_client()
    total = BODY_HISTORY_LIMIT + 10
    for index in range(total):
        search = {
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "EQ", "value": f"{index}@x.example"}]}
            ]
        }
        assert (
            client.post(
                "/crm/v3/objects/contacts/search", json=search, headers={"Authorization": "Bearer t"}
            ).status_code
            == 200
        )
    logged = fake_of(app).requests_to("POST", "/search")
    assert len(logged) == total
    assert [entry.body for entry in logged[:10]] == [None] * 10
    assert logged[-1].body["filterGroups"][0]["filters"][0]["value"] == f"{total - 1}@x.example"
    assert sum(entry.body is not None for entry in logged) == BODY_HISTORY_LIMIT
