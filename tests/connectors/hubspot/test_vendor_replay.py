"""HubSpot's documented answers, replayed through hubspot-api-client to the connector.

Every failure body comes from tests/fixtures/vendors/hubspot/ (each names its source); only the
successes around them are built here. The fakes are checked against these same behaviours in
test_whole_batch.py.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import Delivered, MemoryContext, PermanentError, RetryableError
from connectors.hubspot.api import HubSpotApi
from connectors.hubspot.batches import ISOLATION_BUDGET
from connectors.hubspot.capabilities import STATE_KEY
from connectors.hubspot.transport import build_client
from tests.connectors.hubspot.harness import TOKEN, call_event, make_connector
from tests.connectors.hubspot.harness import item_for as item
from tests.connectors.vendor_replay import ReplayServer, all_recorded, recorded

KEY = "callhub_caller_e164"
NOW = "2026-05-01T15:04:05.000Z"


def _api(url: str) -> HubSpotApi:
    return HubSpotApi(build_client(TOKEN, url, MemoryContext(), 5.0))


def _written(body: Any, *, first_id: int = 900) -> dict[str, Any]:
    """A 2xx batch answer writing every input (ids from the input, or new ones)."""
    results = []
    for n, entry in enumerate(body["inputs"]):
        result = {
            "id": str(entry.get("id") or first_id + n),
            "properties": dict(entry.get("properties") or {}),
            "createdAt": NOW,
            "updatedAt": NOW,
            "archived": False,
        }
        if entry.get("objectWriteTraceId"):
            result["objectWriteTraceId"] = entry["objectWriteTraceId"]
        results.append(result)
    return {"status": "COMPLETE", "results": results, "startedAt": NOW, "completedAt": NOW}


@pytest.fixture
def replay() -> Iterator[tuple[ReplayServer, str]]:
    server = ReplayServer()
    with server.serve() as running:
        yield server, running.url


def test_every_recorded_answer_names_its_source() -> None:
    answers = list(all_recorded("hubspot"))
    assert len(answers) >= 9
    assert all(answer.source.startswith("https://") for answer in answers)


def test_documented_207_on_batch_create_writes_the_good_input_and_rejects_the_bad(replay) -> None:
    server, url = replay
    documented = recorded("hubspot", "batch_create_207_multi_status")

    def create(path: str, body: Any) -> tuple[int, dict[str, str], Any]:
        answer = copy.deepcopy(documented.body)
        answer["results"][0]["properties"].update(body["inputs"][0]["properties"])
        answer["errors"][0]["context"]["objectWriteTraceId"] = [body["inputs"][1]["objectWriteTraceId"]]
        return documented.answer(answer)

    server.on("POST", "/crm/v3/objects/contacts/batch/create", create)
    answer = _api(url).create_contacts(
        KEY, {"+14155550100": {"firstname": "Ann"}, "+14155550101": {"missing": "1"}}
    )

    assert answer.records["+14155550100"]["id"] == "1145814089"
    error = answer.errors["+14155550101"]
    assert isinstance(error, PermanentError)
    assert error.reason == "rejected"
    assert "PROPERTY_DOESNT_EXIST" in error.message
    assert '"name":"missing"' in error.message
    assert len(server.seen) == 1, "a 207 answers per input: nothing to split"


def test_documented_400_for_one_input_rejects_only_that_input(replay) -> None:
    server, url = replay
    refusal = recorded("hubspot", "batch_400_property_doesnt_exist")

    def update(path: str, body: Any) -> tuple[int, dict[str, str], Any]:
        if any("testproperty" in entry["properties"] for entry in body["inputs"]):
            return refusal.answer()
        return 200, {}, _written(body)

    server.on("POST", "/crm/v3/objects/contacts/batch/update", update)
    updates = {str(501 + n): {"hs_lead_status": "OPEN"} for n in range(40)}
    updates["517"] = {"testproperty": "x"}

    answer = _api(url).update_contacts(updates)

    assert set(answer.records) == set(updates) - {"517"}
    error = answer.errors["517"]
    assert isinstance(error, PermanentError)
    assert error.reason == "rejected"
    assert "VALIDATION_ERROR" in error.message
    assert '"name":"testproperty"' in error.message
    assert len(answer.errors) == 1
    # One bad input among 40: the halves it is not in are written at once.
    assert len(server.seen) <= 1 + 2 * 6


def test_documented_409_naming_only_the_first_duplicate_isolates_each_duplicate(replay) -> None:
    server, url = replay
    conflict = recorded("hubspot", "batch_create_409_first_duplicate")
    existing = {"+14155550103", "+14155550107"}

    def create(path: str, body: Any) -> tuple[int, dict[str, str], Any]:
        if any(entry["properties"][KEY] in existing for entry in body["inputs"]):
            return conflict.answer()
        return 201, {}, _written(body)

    server.on("POST", "/crm/v3/objects/contacts/batch/create", create)
    numbers = {f"+1415555010{n}": {"firstname": f"Caller {n}"} for n in range(10)}

    answer = _api(url).create_contacts(KEY, numbers)

    assert set(answer.records) == set(numbers) - existing
    for number in existing:
        error = answer.errors[number]
        assert isinstance(error, PermanentError)
        assert error.details["category"] == "CONFLICT"
        assert "Contact already exists" in error.message


def test_isolation_stops_at_its_budget_and_postpones_the_rest(replay) -> None:
    server, url = replay
    refusal = recorded("hubspot", "batch_400_property_doesnt_exist")
    server.on("POST", "/crm/v3/objects/contacts/batch/update", lambda path, body: refusal.answer())

    answer = _api(url).update_contacts({str(n): {"testproperty": "x"} for n in range(1, 101)})

    assert len(server.seen) <= 1 + ISOLATION_BUDGET
    reasons = {error.reason for error in answer.errors.values()}
    assert reasons == {"rejected", "isolating"}
    assert all(isinstance(e, RetryableError) for e in answer.errors.values() if e.reason == "isolating")


def test_non_unique_key_on_calls_is_not_split_and_switches_the_mode(replay, redis_url) -> None:
    server, url = replay
    non_unique = recorded("hubspot", "upsert_400_non_unique_id_property")
    server.on("POST", "/crm/v3/objects/calls/batch/upsert", lambda path, body: non_unique.answer())
    context = MemoryContext()
    context.put_state(STATE_KEY, {"mode": "unique_property", "at": 9e12})
    connector = make_connector(url, context)
    event = call_event(number=None, call_id="call-nu")

    outcome = connector.deliver([item(event)]).outcomes[item(event).delivery_id]

    assert isinstance(outcome, RetryableError)
    assert outcome.reason == "portal_changed"
    assert context.get_state(STATE_KEY) == {}, "the next attempt asks the portal again"
    assert len(server.requests_to("/crm/v3/objects/calls/batch/upsert")) == 1


@pytest.mark.parametrize(
    ("name", "reason", "retry_after"),
    [
        ("rate_limit_429_ten_secondly", "rate_limited", 10.0),
        ("search_429_secondly", "rate_limited", 1.0),
        ("any_401_invalid_authentication", "unauthorized", None),
    ],
)
def test_documented_refusals_classify_every_delivery(replay, name, reason, retry_after) -> None:
    server, url = replay
    answer = recorded("hubspot", name)
    for method in ("GET", "POST", "PATCH", "PUT"):
        server.on(method, r"/.*", lambda path, body: answer.answer())
    event = call_event()

    outcome = make_connector(url, MemoryContext()).deliver([item(event)]).outcomes[item(event).delivery_id]

    assert getattr(outcome, "reason", None) == reason, outcome
    if retry_after is not None:
        assert isinstance(outcome, RetryableError)
        assert outcome.retry_after == retry_after
    else:
        assert isinstance(outcome, PermanentError)
    assert answer.body["message"][:20] in outcome.message or reason == "unauthorized"


def test_documented_daily_limit_waits_for_the_next_day(replay) -> None:
    server, url = replay
    answer = recorded("hubspot", "rate_limit_429_daily")
    for method in ("GET", "POST"):
        server.on(method, r"/.*", lambda path, body: answer.answer())
    event = call_event()

    outcome = make_connector(url, MemoryContext()).deliver([item(event)]).outcomes[item(event).delivery_id]

    assert isinstance(outcome, RetryableError)
    assert outcome.reason == "rate_limited"
    assert outcome.retry_after is not None
    assert 0 < outcome.retry_after <= 24 * 3600
    assert "daily limit" in outcome.message


def test_documented_missing_scopes_names_them_in_the_check(replay) -> None:
    server, url = replay
    answer = recorded("hubspot", "read_403_missing_scopes")
    server.on("GET", r"/.*", lambda path, body: answer.answer())

    result = make_connector(url, MemoryContext()).check()

    assert not result.ok
    assert "MISSING_SCOPES" in result.detail
    assert any("crm.objects.deals.read" in problem for problem in result.problems)


def test_a_portal_answering_the_documented_207_delivers_the_good_call(replay) -> None:
    """The whole connector over HubSpot's documented 207: no retry storm, no duplicate."""
    server, url = replay
    documented = recorded("hubspot", "batch_create_207_multi_status")
    server.on("POST", "/crm/v3/objects/contacts/search", lambda p, b: (200, {}, {"total": 0, "results": []}))

    def create(path: str, body: Any) -> tuple[int, dict[str, str], Any]:
        answer = copy.deepcopy(documented.body)
        answer["results"][0]["properties"].update(body["inputs"][0]["properties"])
        if len(body["inputs"]) > 1:
            answer["errors"][0]["context"]["objectWriteTraceId"] = [body["inputs"][1]["objectWriteTraceId"]]
        else:
            answer["errors"] = []
            answer["numErrors"] = 0
        return documented.answer(answer)

    server.on("POST", "/crm/v3/objects/contacts/batch/create", create)
    server.on("GET", r"/crm/v3/properties/calls/.*", lambda p, b: (200, {}, _property("callhub_call_id")))
    server.on("POST", "/crm/v3/objects/calls/batch/upsert", lambda p, b: (200, {}, _upserted(b)))
    server.on(
        "POST",
        "/crm/v4/associations/call/contact/batch/associate/default",
        lambda p, b: (200, {}, _associated(b)),
    )
    first, second = call_event("+14155550100", "call-a"), call_event("+14155550101", "call-b")

    result = make_connector(url, MemoryContext()).deliver([item(first), item(second)])

    good = result.outcomes[item(first).delivery_id]
    bad = result.outcomes[item(second).delivery_id]
    assert isinstance(good, Delivered)
    assert good.external_ids["contacts"] == "1145814089"
    assert isinstance(bad, PermanentError)
    assert '"name":"missing"' in bad.message
    assert len(server.requests_to("/crm/v3/objects/contacts/batch/create")) == 1


def _property(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": name,
        "type": "string",
        "fieldType": "text",
        "groupName": "callinformation",
        "hasUniqueValue": True,
        "createdAt": NOW,
        "updatedAt": NOW,
        "description": "",
        "options": [],
        "calculated": False,
        "externalOptions": False,
        "hidden": False,
        "formField": False,
        "displayOrder": -1,
        "modificationMetadata": {"archivable": True, "readOnlyDefinition": False, "readOnlyValue": False},
    }


def _upserted(body: Any) -> dict[str, Any]:
    answer = _written(body, first_id=7000)
    for result, entry in zip(answer["results"], body["inputs"], strict=True):
        result["id"] = str(7000 + len(entry["id"]))
        result["properties"][entry["idProperty"]] = entry["id"]
        result["new"] = True
    return answer


def _associated(body: Any) -> dict[str, Any]:
    results = [
        {
            "from": {"id": entry["from"]["id"]},
            "to": {"id": entry["to"]["id"]},
            "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194},
        }
        for entry in body["inputs"]
    ]
    return {"status": "COMPLETE", "results": results, "startedAt": NOW, "completedAt": NOW}
