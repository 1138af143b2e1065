"""One bad record never rejects the others: against a fake answering the way HubSpot documents
and its users report (a whole-batch 400 or 409), and against one answering 207 per record."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from connectors.base import Delivered, PermanentError
from hub.core.events import Outcome
from tests.connectors.hubspot.harness import (
    TOKEN,
    call_event,
    item_for,
    make_connector,
    shared_context,
)

FAST = {"rate_limit": 100_000, "search_rate_limit": 100_000}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _callers(count: int) -> list[str]:
    return [f"+1415555{index:04d}" for index in range(count)]


def _updated(number: str, index: int, agent: str) -> Any:
    event = call_event(number, f"call-{index}", kind="call.updated", outcome=Outcome(agent=agent))
    return item_for(event, attempt=2)


@pytest.mark.parametrize("batch_errors", ["whole_batch", "per_record"])
def test_one_invalid_owner_rejects_only_its_delivery(portal_factory, redis_url, batch_errors):
    portal = portal_factory(batch_errors=batch_errors, **FAST)
    connector = make_connector(portal.url, shared_context(redis_url))
    numbers = _callers(8)
    first = connector.deliver([item_for(call_event(n, f"call-{i}")) for i, n in enumerate(numbers)])
    assert all(isinstance(o, Delivered) for o in first.outcomes.values()), first.outcomes
    # The updates: every agent is the sandbox owner, except one owner id the portal does not have.
    updates = [_updated(n, i, "99999" if i == 5 else "7001") for i, n in enumerate(numbers)]

    result = connector.deliver(updates)

    bad = result.outcomes[updates[5].delivery_id]
    assert isinstance(bad, PermanentError), bad
    assert bad.reason == "rejected"
    assert "99999" in bad.message
    good = [result.outcomes[u.delivery_id] for i, u in enumerate(updates) if i != 5]
    assert all(isinstance(o, Delivered) for o in good), result.outcomes
    owners = {
        c["properties"].get("phone"): c["properties"].get("hubspot_owner_id")
        for c in portal.records("contacts")
    }
    assert owners[numbers[0]] == "7001"
    assert owners[numbers[5]] != "99999"
    statuses = {entry.status for entry in portal.fake.requests_to("POST", "/contacts/batch/update")}
    assert (400 if batch_errors == "whole_batch" else 207) in statuses


def test_whole_batch_refusal_writes_nothing_of_the_batch(portal_factory):
    portal = portal_factory(**FAST)
    client = portal.fake
    first = client.store.create("contacts", {"firstname": "A"}).id
    second = client.store.create("contacts", {"firstname": "B"}).id
    body = {
        "inputs": [
            {"id": first, "properties": {"firstname": "changed"}},
            {"id": second, "properties": {"hs_lead_status": "NOT_AN_OPTION"}},
        ]
    }
    response = requests.post(
        f"{portal.url}/crm/v3/objects/contacts/batch/update", json=body, headers=AUTH, timeout=5
    )

    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
    assert "NOT_AN_OPTION" in response.json()["message"]
    assert client.store.get("contacts", first).properties["firstname"] == "A", (
        "nothing of the batch is written"
    )


def test_batch_create_with_duplicates_answers_one_409_naming_the_first(portal_factory):
    portal = portal_factory(**FAST)
    for number in ("+14155550001", "+14155550003"):
        portal.fake.store.create("contacts", {"callhub_caller_e164": number})
    body = {
        "inputs": [
            {"objectWriteTraceId": f"t{n}", "properties": {"callhub_caller_e164": f"+1415555000{n}"}}
            for n in range(5)
        ]
    }

    response = requests.post(
        f"{portal.url}/crm/v3/objects/contacts/batch/create", json=body, headers=AUTH, timeout=5
    )

    assert response.status_code == 409
    assert response.json()["category"] == "CONFLICT"
    assert response.json()["message"].count("Existing ID") == 1
    assert len(portal.records("contacts")) == 2, "nothing of the batch is created"


def test_duplicate_keys_in_a_create_batch_become_updates_not_rejections(portal_factory, redis_url):
    """Contacts the search cannot see yet (index lag) already hold two callers' keys: the whole
    batch answers 409, the connector isolates them and updates those two contacts."""
    portal = portal_factory(search_lag_s=60.0, **FAST)
    numbers = _callers(6)
    seeded = {n: portal.fake.store.create("contacts", {"callhub_caller_e164": n}).id for n in numbers[1:3]}
    connector = make_connector(portal.url, shared_context(redis_url))

    result = connector.deliver([item_for(call_event(n, f"call-{i}")) for i, n in enumerate(numbers)])

    assert all(isinstance(o, Delivered) for o in result.outcomes.values()), result.outcomes
    assert len(portal.records("contacts")) == 6, "no duplicate contact"
    for number, contact_id in seeded.items():
        index = numbers.index(number)
        assert result.outcomes[f"dlv-call-{index}-call.completed"].external_ids["contacts"] == contact_id
