"""The admin API's guard rails and its OpenAPI document."""

from __future__ import annotations

from tests.hubkit import Hub


def test_every_api_route_needs_the_token_and_is_documented(hub: Hub) -> None:
    app = hub.client.application
    documented = hub.client.get("/api/openapi.json").json["paths"]
    for rule in app.url_map.iter_rules():
        path = str(rule.rule)
        if not path.startswith("/api/") or path == "/api/openapi.json":
            continue
        concrete = path.replace("<int:receipt_id>", "1").replace("<", "").replace(">", "")
        method = "POST" if "POST" in (rule.methods or set()) else "GET"
        response = hub.client.open(concrete, method=method)
        assert response.status_code == 401, f"{method} {path} answers without a token"
        openapi_path = path.replace("<int:", "{").replace("<", "{").replace(">", "}")
        assert openapi_path in documented, f"{path} is missing from the OpenAPI document"


def test_bad_query_values_are_400_not_500(hub: Hub) -> None:
    assert hub.api("/events?since=yesterday-ish").status_code == 400
    assert hub.api("/events?limit=many").status_code == 400
    assert hub.api("/deliveries/replay", method="POST", json={"since": "not a time"}).status_code == 400
    assert hub.api("/deliveries/replay", method="POST", json={"statuses": ["exploded"]}).status_code == 409
    assert hub.api("/events/call_nope").status_code == 404


def test_a_connector_report_answers_only_for_that_connectors_destinations(hub: Hub) -> None:
    # The default hub's only destination is a `webhook` one; coverage is a GA4 report.
    answer = hub.api("/destinations/webhook/coverage")
    assert answer.status_code == 404
    assert answer.json["message"] == "no GA4 destination webhook"
    assert hub.api("/destinations/nowhere/coverage").status_code == 404
