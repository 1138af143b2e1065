"""Ringba pixel quirks: our template's parameter names, event vocabulary, token placement."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from hub.core.errors import ParseError, SignatureError
from tests.providers.support import make_provider
from webhooks.base import Headers, InboundRequest

NOW = datetime(2026, 1, 1, tzinfo=UTC)
URL = "https://hub.example.com/webhooks/ringba"


def pixel(**params: str) -> InboundRequest:
    return InboundRequest("GET", f"{URL}?{urlencode({'call_id': 'RGB1', **params})}", Headers(), b"", NOW)


@pytest.mark.parametrize(
    ("event", "kind", "status"),
    [
        ("incoming", "call.started", "ringing"),
        ("Connected", "call.started", "in_progress"),
        ("completed", "call.completed", "answered"),
        ("error", "call.completed", "failed"),
        ("converted", "call.updated", "answered"),
        ("payout", "call.updated", None),
        ("recording", "call.updated", None),
        ("", "unknown", None),
    ],
)
def test_pixel_events_map_to_kinds_and_statuses(event: str, kind: str, status: str | None) -> None:
    [normalized] = make_provider("ringba").parse(pixel(event=event))
    assert (normalized.kind, normalized.call.status) == (kind, status)


@pytest.mark.parametrize(
    ("params", "status"),
    [({"target": "Dispatch"}, "answered"), ({"duration": "35"}, "answered"), ({"duration": "0"}, "missed")],
)
def test_finalized_status_depends_on_a_connection(params: dict[str, str], status: str) -> None:
    [event] = make_provider("ringba").parse(pixel(event="finalized", **params))
    assert event.call.status == status


def test_post_body_overlays_url_parameters_and_header_token() -> None:
    provider = make_provider("ringba")
    body = json.dumps({"event": "converted", "call_id": "RGB2", "conversion_amount": "12.5"}).encode()
    request = InboundRequest(
        "POST", URL + "?event=completed", Headers({"Content-Type": "application/json"}), body, NOW
    )
    [event] = provider.parse(request)
    assert (event.provider_call_id, event.kind, str(event.outcome.value)) == ("RGB2", "call.updated", "12.5")
    assert event.outcome.qualified is True
    provider.verify(
        InboundRequest("POST", URL, Headers({"X-Hub-Token": "s3cret"}), body, NOW), ["s3cret"], NOW
    )
    with pytest.raises(SignatureError):
        provider.verify(
            InboundRequest("POST", URL, Headers({"X-Hub-Token": "nope"}), body, NOW), ["s3cret"], NOW
        )


def test_token_is_not_part_of_the_delivery() -> None:
    provider = make_provider("ringba")
    request = pixel(event="incoming")
    signed = provider.sign(request, "s3cret", NOW)
    assert provider.receipt_key(signed) == provider.receipt_key(request)
    assert "token" not in provider.parse(signed)[0].custom


def test_missing_call_id_names_the_token() -> None:
    request = InboundRequest("GET", f"{URL}?event=incoming", Headers(), b"", NOW)
    with pytest.raises(ParseError, match=r"\[Call:InboundCallId\]"):
        make_provider("ringba").normalize(request)
