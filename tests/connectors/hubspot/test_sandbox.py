"""The fake HubSpot answers the way HubSpot does: limits, auth, batch rules, search limits, faults."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.hubspot.fake import create_app, fake_of

AUTH = {"Authorization": "Bearer pat-test"}


def answer_of(response: Any) -> dict[str, Any]:
    data = response.get_json()
    assert isinstance(data, dict)
    return data


@pytest.fixture
def app():
    return create_app(
        access_token="pat-test", rate_limit=3, rate_window_s=60, search_rate_limit=1, search_window_s=60
    )


@pytest.fixture
def client(app):
    return app.test_client()


def test_missing_or_wrong_token_gets_401(client):
    assert client.get("/crm/v3/properties/contacts").status_code == 401
    response = client.get("/crm/v3/properties/contacts", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert answer_of(response)["category"] == "INVALID_AUTHENTICATION"
    assert {"status", "message", "correlationId"} <= set(response.json)


def test_ten_second_policy_answers_429_with_headers(client):
    for _ in range(3):
        ok = client.get("/crm/v3/properties/calls", headers=AUTH)
        assert ok.status_code == 200
    assert ok.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    limited = client.get("/crm/v3/properties/calls", headers=AUTH)
    assert limited.status_code == 429
    assert answer_of(limited)["policyName"] == "TEN_SECONDLY_ROLLING"
    assert answer_of(limited)["category"] == "RATE_LIMITS"
    assert limited.headers["X-HubSpot-RateLimit-Max"] == "3"
    assert limited.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "60000"


def test_search_has_its_own_per_second_policy(client):
    body = {"filterGroups": [], "limit": 10}
    assert client.post("/crm/v3/objects/contacts/search", json=body, headers=AUTH).status_code == 200
    limited = client.post("/crm/v3/objects/contacts/search", json=body, headers=AUTH)
    assert limited.status_code == 429
    assert answer_of(limited)["policyName"] == "SECONDLY"
    assert "X-HubSpot-RateLimit-Max" not in limited.headers


def test_search_filter_limits(client):
    groups = [{"filters": [{"propertyName": "phone", "operator": "EQ", "value": "1"}]}] * 6
    response = client.post("/crm/v3/objects/contacts/search", json={"filterGroups": groups}, headers=AUTH)
    assert response.status_code == 400
    assert answer_of(response)["category"] == "VALIDATION_ERROR"


def test_search_filters_per_group_and_in_all_are_limited():
    client = create_app(access_token="pat-test", search_rate_limit=100).test_client()

    def status(groups: list[int]) -> int:
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": "phone", "operator": "HAS_PROPERTY"}] * count}
                for count in groups
            ]
        }
        return int(client.post("/crm/v3/objects/contacts/search", json=body, headers=AUTH).status_code)

    assert status([6, 6, 6]) == 200
    assert status([7]) == 400, "6 filters in a group at most"
    assert status([6, 6, 6, 1]) == 400, "18 filters in all at most"


def test_search_pages_stop_at_the_ten_thousandth_result():
    app = create_app(access_token="pat-test", search_rate_limit=100, search_lag_s=0.0)
    client = app.test_client()
    store = fake_of(app).store
    for index in range(3):
        store.create("contacts", {"firstname": f"n{index}"})

    def search(after: int) -> Any:
        body = {"filterGroups": [], "limit": 2, "after": str(after)}
        return client.post("/crm/v3/objects/contacts/search", json=body, headers=AUTH)

    first = answer_of(search(0))
    assert first["total"] == 3
    assert first["paging"]["next"]["after"] == "2"
    assert "paging" not in answer_of(search(2))
    refused = search(10_000)
    assert refused.status_code == 400
    assert answer_of(refused)["category"] == "VALIDATION_ERROR"


def test_a_new_record_joins_search_after_the_index_lag():
    app = create_app(access_token="pat-test", search_rate_limit=100, search_lag_s=600)
    client = app.test_client()
    fake_of(app).store.create("contacts", {"phone": "+14155550100"})
    body = {
        "filterGroups": [{"filters": [{"propertyName": "phone", "operator": "EQ", "value": "+14155550100"}]}]
    }

    answer = answer_of(client.post("/crm/v3/objects/contacts/search", json=body, headers=AUTH))

    assert answer["total"] == 0


def test_search_in_value_limit(app):
    client = create_app(access_token="pat-test", max_in_values=2).test_client()
    groups = [{"filters": [{"propertyName": "phone", "operator": "IN", "values": ["1", "2", "3"]}]}]
    response = client.post("/crm/v3/objects/contacts/search", json={"filterGroups": groups}, headers=AUTH)
    assert response.status_code == 400


def test_search_operators_on_phone_properties():
    app = create_app(search_rate_limit=100, search_lag_s=0.0)
    client = app.test_client()
    fake_of(app).store.create("contacts", {"phone": "(415) 555-0100", "mobilephone": "+1 650 555 0111"})
    auth = {"Authorization": "Bearer anything"}

    def search(prop: str, operator: str, **value: Any) -> int:
        body = {"filterGroups": [{"filters": [{"propertyName": prop, "operator": operator, **value}]}]}
        return int(
            answer_of(client.post("/crm/v3/objects/contacts/search", json=body, headers=auth))["total"]
        )

    assert search("phone", "EQ", value="(415) 555-0100") == 1
    assert search("phone", "EQ", value="+14155550100") == 0
    assert search("hs_searchable_calculated_phone_number", "IN", values=["4155550100"]) == 1
    assert search("hs_searchable_calculated_mobile_number", "EQ", value="6505550111") == 1
    assert search("phone", "CONTAINS_TOKEN", value="*0100") == 1
    assert search("mobilephone", "CONTAINS_TOKEN", value="555") == 1


def test_batch_rules(client):
    too_many = {"inputs": [{"properties": {"firstname": str(i)}} for i in range(101)]}
    assert (
        client.post("/crm/v3/objects/contacts/batch/create", json=too_many, headers=AUTH).status_code == 400
    )
    duplicate = {"inputs": [{"id": "1", "properties": {}}, {"id": "1", "properties": {}}]}
    response = client.post("/crm/v3/objects/contacts/batch/update", json=duplicate, headers=AUTH)
    assert response.status_code == 400
    assert "Duplicate IDs" in answer_of(response)["message"]


def test_batch_207_reports_per_record_errors():
    app = create_app()
    client = app.test_client()
    auth = {"Authorization": "Bearer anything"}
    good = fake_of(app).store.create("contacts", {"firstname": "A"}).id
    body = {"inputs": [{"id": good, "properties": {"firstname": "B"}}, {"id": "999999", "properties": {}}]}

    response = client.post("/crm/v3/objects/contacts/batch/update", json=body, headers=auth)

    assert response.status_code == 207
    assert answer_of(response)["numErrors"] == 1
    assert answer_of(response)["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert answer_of(response)["results"][0]["properties"]["firstname"] == "B"


def test_call_properties_are_validated():
    client = create_app().test_client()
    auth = {"Authorization": "Bearer anything"}
    body = {
        "properties": {
            "hs_timestamp": "2024-05-01T15:04:05.000Z",
            "hs_call_status": "DONE",
            "hs_call_recording_url": "http://example.com/a.mp3",
            "hs_call_disposition": "not-a-guid",
        }
    }
    response = client.post("/crm/v3/objects/calls", json=body, headers=auth)
    assert response.status_code == 400
    codes = {error["code"] for error in answer_of(response)["errors"]}
    assert codes == {"INVALID_OPTION", "INVALID_URL"}
    missing = client.post("/crm/v3/objects/calls", json={"properties": {"hs_call_title": "x"}}, headers=auth)
    assert missing.status_code == 400


def test_read_only_property_cannot_be_written():
    client = create_app().test_client()
    body = {"properties": {"hs_analytics_source": "OFFLINE"}}
    response = client.post("/crm/v3/objects/contacts", json=body, headers={"Authorization": "Bearer x"})
    assert response.status_code == 400
    assert answer_of(response)["errors"][0]["code"] == "READ_ONLY_VALUE"


def test_control_api_faults_stats_and_reset():
    app = create_app()
    client = app.test_client()
    auth = {"Authorization": "Bearer anything"}
    assert (
        client.post("/__fake__/faults", json={"kind": "status", "status": 502, "path": "/owners"}).status_code
        == 200
    )
    assert client.get("/crm/v3/owners", headers=auth).status_code == 502
    assert client.get("/crm/v3/owners", headers=auth).status_code == 200
    assert client.post("/__fake__/faults", json={"kind": "bogus"}).status_code == 400
    assert answer_of(client.get("/__fake__/stats"))["requests"] == 2
    client.post("/crm/v3/objects/contacts", json={"properties": {"firstname": "A"}}, headers=auth)
    assert len(answer_of(client.get("/__fake__/records/contacts"))["results"]) == 1
    client.post("/__fake__/reset")
    assert answer_of(client.get("/__fake__/records/contacts"))["results"] == []
    assert answer_of(client.get("/__fake__/stats"))["requests"] == 0
