"""CallRail specifics beyond the shared contract: published signatures and trigger kinds."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from hub.core.errors import ParseError, SignatureError
from tests.providers.support import FIXTURES, RECEIVED_AT, fixture_request, make_provider
from webhooks.base import Headers, InboundRequest

# From tests/fixtures/providers/callrail/README.md (computed with CallRail's documented recipe).
SAMPLE_KEY = "6b1f0c2d9e8a4b7c5d3e2f1a0b9c8d7e"
SAMPLE_SIGNATURES = {
    "post_call_answered_web_session.json": "W1Q+woynXVqEfuKcXRHlLSjTVL0=",
    "post_call_missed.json": "LrIKSsnrcbax3+V4Alv8d5XC2QY=",
    "post_call_voicemail.json": "fO0r9NgIMpSJP7rcwY5hGjaNVUw=",
    "post_call_offline_source.json": "ET8WhQEPg8akqVJimGQb2lEPP7I=",
    "call_modified_tags_value_lead_status.json": "Qz1GWvz9A42A3hwv+nkjKAz76OY=",
}


def _request(name: str) -> InboundRequest:
    return fixture_request("callrail", FIXTURES / "callrail" / name)


@pytest.mark.parametrize(("name", "signature"), SAMPLE_SIGNATURES.items())
def test_published_sample_signatures_verify(name: str, signature: str) -> None:
    provider = make_provider("callrail")
    request = _request(name)
    assert provider.sign(request, SAMPLE_KEY, RECEIVED_AT).headers["Signature"] == signature
    # Frameworks may hand the header over lower-cased.
    received = dataclasses.replace(request, headers=request.headers.with_values(signature=signature))
    provider.verify(received, ["some-older-key", SAMPLE_KEY], RECEIVED_AT)


def test_signature_of_another_company_is_refused() -> None:
    request = _request("post_call_missed.json")
    signed = dataclasses.replace(
        request, headers=request.headers.with_values(Signature=SAMPLE_SIGNATURES["post_call_voicemail.json"])
    )
    with pytest.raises(SignatureError) as caught:
        make_provider("callrail").verify(signed, [SAMPLE_KEY], RECEIVED_AT)
    assert caught.value.reason == "bad_signature"


def test_old_call_timestamp_is_not_a_stale_delivery() -> None:
    # The body's `timestamp` is the call's start; CallRail never resends, so age is no proof.
    request = _request("post_call_missed.json")
    much_later = datetime(2030, 1, 1, tzinfo=UTC)
    provider = make_provider("callrail")
    provider.verify(provider.sign(request, SAMPLE_KEY, much_later), [SAMPLE_KEY], much_later)


@pytest.mark.parametrize(
    ("event", "kind", "status"),
    [
        ("pre_call", "call.started", "ringing"),
        ("call-routing-complete", "call.started", "ringing"),
        ("call_modified", "call.updated", "missed"),
        (None, "call.completed", "missed"),
    ],
)
def test_webhook_url_names_the_trigger(event: str | None, kind: str, status: str) -> None:
    request = _request("post_call_missed.json")
    body = (
        request.body.replace(b'"duration":"21"', b'"duration":"0"')
        if kind == "call.started"
        else request.body
    )
    url = f"{request.url}?event={event}" if event else request.url
    [event_out] = make_provider("callrail").normalize(dataclasses.replace(request, url=url, body=body))
    assert (event_out.kind, event_out.call.status) == (kind, status)


def test_modified_call_is_an_update_of_the_same_call() -> None:
    provider = make_provider("callrail")
    [posted] = provider.normalize(_request("post_call_answered_web_session.json"))
    [modified] = provider.normalize(_request("call_modified_tags_value_lead_status.json"))
    assert modified.kind == "call.updated"
    assert modified.provider_call_id == posted.provider_call_id
    assert modified.id != posted.id


def test_payload_without_call_id_is_a_parse_error() -> None:
    request = InboundRequest(
        "POST",
        "https://hub.example.com/webhooks/callrail",
        Headers({"Content-Type": "application/json"}),
        b"{}",
    )
    with pytest.raises(ParseError, match="resource_id"):
        make_provider("callrail").normalize(request)
