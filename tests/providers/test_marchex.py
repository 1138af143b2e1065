"""Marchex via its YAML definition: envelope of notifications, redeliveries, local times."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.providers.support import FIXTURES, fixture_request, make_provider
from webhooks.base import Headers, InboundRequest

PROCESSED = FIXTURES / "marchex" / "call_processed.json"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def envelope(change: dict[str, object] | None = None, **notification: object) -> InboundRequest:
    data = json.loads(PROCESSED.read_text())
    data.update(change or {})
    data["Notifications"][0].update(notification)
    body = json.dumps(data).encode()
    return InboundRequest("POST", "https://hub.example.com/webhooks/mx", Headers(), body, NOW)


def test_a_redelivery_is_the_same_receipt() -> None:
    provider = make_provider("marchex")
    assert provider.receipt_key(envelope()) == provider.receipt_key(envelope({"Attempt": 2}))
    assert provider.receipt_key(envelope()) != provider.receipt_key(envelope({"Id": "other"}))


def test_each_notification_is_an_event() -> None:
    data = json.loads(PROCESSED.read_text())
    second = dict(data["Notifications"][0], TelmetricsId=42, Action="CallDetails.CallStart")
    data["Notifications"].append(second)
    request = InboundRequest(
        "POST", "https://hub.example.com/webhooks/mx", Headers(), json.dumps(data).encode(), NOW
    )
    events = make_provider("marchex").normalize(request)
    assert [(e.provider_call_id, e.kind) for e in events] == [
        ("3081557204", "call.updated"),
        ("42", "call.started"),
    ]
    assert len({e.id for e in events}) == 2


def test_account_time_zone_comes_from_the_source_when_set() -> None:
    [event] = make_provider("marchex", time_zone="America/Los_Angeles").parse(envelope())
    assert event.call.started_at == datetime(2024, 3, 12, 21, 22, 7, tzinfo=UTC)
    assert event.occurred_at == datetime(2024, 3, 12, 18, 36, 2, 877000, tzinfo=UTC)  # envelope UTC


def test_status_falls_back_to_the_action() -> None:
    [event] = make_provider("marchex").parse(envelope(AnswerStatus=None, Action="CallDetails.CallStart"))
    assert event.call.status == "ringing"
    [event] = make_provider("marchex").parse(envelope(AnswerStatus="Busy"))
    assert event.call.status == "busy"


def test_fixture_snapshot_is_read_from_the_definition() -> None:
    [event] = make_provider("marchex").normalize(fixture_request("marchex", PROCESSED))
    assert event.provider == "marchex"
    assert event.attribution.ga_client_id == "1187416732.1710263921"


def test_unreadable_body_still_gets_a_receipt_key() -> None:
    provider = make_provider("marchex")
    broken = InboundRequest("POST", "https://hub.example.com/webhooks/mx", Headers(), b"{not json", NOW)
    assert len(provider.receipt_key(broken)) == 64
