"""Retreaver quirks: pings with or without `event=`, the API call object, secrets kept out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from tests.providers.support import FIXTURES, fixture_request, make_provider
from webhooks.base import Headers, InboundRequest

NOW = datetime(2026, 1, 1, tzinfo=UTC)
URL = "https://hub.example.com/webhooks/retreaver"


def ping(**params: str) -> InboundRequest:
    return InboundRequest("GET", f"{URL}?{urlencode({'call_uuid': 'U1', **params})}", Headers(), b"", NOW)


@pytest.mark.parametrize(
    ("params", "kind", "status"),
    [
        ({"event": "start"}, "call.started", "ringing"),
        ({"event": "selected", "dialed_number": "+14045550147"}, "call.started", "ringing"),
        ({"event": "answered"}, "call.started", "in_progress"),
        ({"event": "ended", "connected": "true"}, "call.completed", "answered"),
        ({"event": "ended", "connected": "false"}, "call.completed", "missed"),
        ({"event": "ended", "status": "busy"}, "call.completed", "busy"),
        ({"event": "converted"}, "call.updated", None),
        ({}, "call.started", "ringing"),
        ({"dialed_number": "+14045550147"}, "call.started", "in_progress"),
        ({"end_time": "2024-03-12T18:29:18Z", "connected": "0"}, "call.completed", "missed"),
    ],
)
def test_event_parameter_or_content_decides_the_kind(
    params: dict[str, str], kind: str, status: str | None
) -> None:
    [event] = make_provider("retreaver").parse(ping(**params))
    assert (event.kind, event.call.status) == (kind, status)


def test_call_key_is_never_kept() -> None:
    path = FIXTURES / "retreaver" / "converted_postback_get_query.form"
    [event] = make_provider("retreaver").normalize(fixture_request("retreaver", path))
    assert "call_key" not in json.dumps(event.custom)


def test_tags_fill_attribution_with_their_first_value() -> None:
    body = {"call": {"uuid": "U2", "tags": {"utm_source": "facebook,instagram", "gclid": "G-1"}}}
    request = InboundRequest(
        "POST", URL, Headers({"Content-Type": "application/json"}), json.dumps(body).encode(), NOW
    )
    [event] = make_provider("retreaver").parse(request)
    assert (event.attribution.utm_source, event.attribution.gclid) == ("facebook", "G-1")
    assert event.custom["tags"] == body["call"]["tags"]


def test_end_of_call_uses_its_end_time_and_talk_time() -> None:
    path = FIXTURES / "retreaver" / "end_of_call_converted.json"
    [event] = make_provider("retreaver").normalize(fixture_request("retreaver", path))
    assert event.occurred_at == event.call.ended_at
    assert (event.call.duration_s, event.call.talk_time_s) == (431, 412)
    assert event.attribution.dni_type == "session"


def test_call_key_is_a_credential_never_stored() -> None:
    from pathlib import Path

    from hub.receive import masked_url
    from webhooks.base import SourceSettings
    from webhooks.registry import create

    provider = create("retreaver", SourceSettings("retreaver"), Path("mappings"))
    _, params = provider.credential_carriers()
    stored = masked_url("https://hub.example/webhooks/retreaver?token=t&call_uuid=u&call_key=k123", params)
    assert "k123" not in stored
    assert "call_uuid=u" in stored
