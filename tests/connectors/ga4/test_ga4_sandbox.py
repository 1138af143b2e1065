"""The GA4 fake's own behaviour, over HTTP, as GA documents it."""

from __future__ import annotations

from datetime import timedelta

import requests

from connectors.ga4.fake.state import SandboxState
from tests.connectors.ga4.calls import NOW, micros

PARAMS = {"measurement_id": "G-TEST1234", "api_secret": "x"}


def body(**event_fields: object) -> dict[str, object]:
    event = {"name": "phone_call", "params": {"engagement_time_msec": 1}, **event_fields}
    return {"client_id": "1.2", "events": [event]}


def test_collect_answers_204_even_for_garbage_and_records_it(
    ga4_url: str, recorded: SandboxState, http: requests.Session
) -> None:
    good = http.post(f"{ga4_url}/mp/collect", params=PARAMS, json=body(), timeout=5)
    bad = http.post(f"{ga4_url}/mp/collect", params=PARAMS, json=body(name="_bad name"), timeout=5)
    broken = http.post(f"{ga4_url}/mp/collect", data=b"not json", timeout=5)

    assert [good.status_code, bad.status_code, broken.status_code] == [204, 204, 204]
    assert len(recorded.hits()) == 3
    # Like GA, only the valid event is kept (and reported).
    assert [event.name for event in recorded.events()] == ["phone_call"]
    listed = http.get(f"{ga4_url}/__fake__/events", timeout=5).json()["events"]
    assert [event["name"] for event in listed] == ["phone_call"]


def test_debug_endpoint_returns_validation_messages_and_records_nothing(
    ga4_url: str, recorded: SandboxState, http: requests.Session
) -> None:
    valid = http.post(f"{ga4_url}/debug/mp/collect", params=PARAMS, json=body(), timeout=5).json()
    invalid = http.post(
        f"{ga4_url}/debug/mp/collect",
        params=PARAMS,
        json={
            "events": [
                {"name": "_badEventName", "params": {"firebase_conversion": "x", "campaign": "c" * 101}},
                {"name": "phone_call", "timestamp_micros": micros(NOW - timedelta(hours=80))},
            ]
        },
        timeout=5,
    ).json()

    assert valid == {"validationMessages": []}
    codes = [(m["fieldPath"], m["validationCode"]) for m in invalid["validationMessages"]]
    assert codes == [
        ("client_id", "VALUE_REQUIRED"),
        ("events", "NAME_INVALID"),
        ("events.params.firebase_conversion", "NAME_RESERVED"),
        ("events.params.campaign", "VALUE_OUT_OF_BOUNDS"),
        ("events.timestamp_micros", "VALUE_OUT_OF_BOUNDS"),
    ]
    first = invalid["validationMessages"][1]
    assert set(first) == {"fieldPath", "description", "validationCode"}
    assert first["description"].startswith("Event at index: [0] has invalid name [_badEventName]")
    assert recorded.hits() == []


def test_debug_endpoint_counts_events_and_params(ga4_url: str, http: requests.Session) -> None:
    many_events = {"client_id": "1.2", "events": [{"name": "phone_call"}] * 26}
    many_params = body(params={f"p{n}": n for n in range(26)})
    codes = [
        [
            m["validationCode"]
            for m in http.post(f"{ga4_url}/debug/mp/collect", json=payload, timeout=5).json()[
                "validationMessages"
            ]
        ]
        for payload in (many_events, many_params)
    ]
    assert codes == [["EXCEEDED_MAX_ENTITIES"], ["EXCEEDED_MAX_ENTITIES"]]


def test_faults_replace_the_next_answers(
    ga4_url: str, recorded: SandboxState, http: requests.Session
) -> None:
    http.post(
        f"{ga4_url}/__fake__/faults", json={"endpoint": "collect", "status": 500, "times": 2}, timeout=5
    )
    statuses = [
        http.post(f"{ga4_url}/mp/collect", params=PARAMS, json=body(), timeout=5).status_code
        for _ in range(3)
    ]

    assert statuses == [500, 500, 204]
    assert len(recorded.hits()) == 1
    http.post(f"{ga4_url}/__fake__/reset", timeout=5)
    assert http.get(f"{ga4_url}/__fake__/requests", timeout=5).json() == {"requests": []}


def test_unknown_fault_endpoint_is_a_400(ga4_url: str, http: requests.Session) -> None:
    answer = http.post(f"{ga4_url}/__fake__/faults", json={"endpoint": "nowhere"}, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_the_sandbox_keeps_what_it_received_across_restarts(tmp_path) -> None:
    from connectors.ga4.fake import create_app as ga4_app
    from connectors.ga4.fake import sandbox_state

    state = tmp_path / "sandbox" / "ga4.sqlite"
    first = sandbox_state(ga4_app(state_path=str(state)))
    first.record("G-TEST", {"client_id": "1.2", "events": [{"name": "phone_call", "params": {}}]})

    again = sandbox_state(ga4_app(state_path=str(state)))

    [hit] = again.hits()
    assert hit.measurement_id == "G-TEST"
    assert hit.body["events"][0]["name"] == "phone_call"
