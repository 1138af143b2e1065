"""Invoca specifics: the shared token, corrections of a call, body formats."""

from __future__ import annotations

import dataclasses

import pytest

from hub.core.errors import ParseError, SignatureError
from tests.providers.support import FIXTURES, RECEIVED_AT, fixture_request, make_provider
from webhooks.base import InboundRequest

TOKEN = "invoca-shared-token-7f3a"


def _request(name: str) -> InboundRequest:
    return fixture_request("invoca", FIXTURES / "invoca" / name)


def test_bearer_header_is_accepted() -> None:
    request = _request("post_call_missed.json")
    with_header = dataclasses.replace(
        request, headers=request.headers.with_values(Authorization=f"Bearer {TOKEN}")
    )
    make_provider("invoca").verify(with_header, ["older-token", TOKEN], RECEIVED_AT)


def test_basic_auth_header_is_not_a_token() -> None:
    request = _request("post_call_missed.json")
    with_header = dataclasses.replace(
        request, headers=request.headers.with_values(Authorization=f"Basic {TOKEN}")
    )
    with pytest.raises(SignatureError) as caught:
        make_provider("invoca").verify(with_header, [TOKEN], RECEIVED_AT)
    assert caught.value.reason == "missing_signature"


def test_get_template_token_sits_beside_the_payload() -> None:
    provider = make_provider("invoca")
    request = _request("post_call_voicemail_get_query.form")
    signed = provider.sign(request, TOKEN, RECEIVED_AT)
    provider.verify(signed, [TOKEN], RECEIVED_AT)
    [event] = provider.normalize(signed)
    assert "token" not in event.custom
    # A rotated token must not turn the same delivery into a new one.
    assert provider.receipt_key(signed) == provider.receipt_key(
        provider.sign(request, "next-token", RECEIVED_AT)
    )


def test_signal_and_correction_update_the_call_they_belong_to() -> None:
    provider = make_provider("invoca")
    [call] = provider.normalize(_request("post_call_answered_web_session.json"))
    [signal] = provider.normalize(_request("signal_booked_revenue.json"))
    assert (signal.kind, signal.provider_call_id) == ("call.updated", call.provider_call_id)
    [missed] = provider.normalize(_request("post_call_missed.json"))
    [correction] = provider.normalize(_request("correction_of_missed_call.json"))
    assert (correction.kind, correction.provider_call_id) == ("call.updated", missed.provider_call_id)
    assert correction.custom["corrects_transaction_id"] == missed.custom["transaction_id"]


def test_pre_transfer_webhook_is_a_start() -> None:
    request = _request("post_call_answered_web_session.json")
    [event] = make_provider("invoca").normalize(
        dataclasses.replace(request, url=f"{request.url}?event=pre-transfer")
    )
    assert (event.kind, event.call.status, event.call.ended_at) == ("call.started", "ringing", None)


def test_xml_post_is_refused_with_an_explanation() -> None:
    request = dataclasses.replace(
        _request("post_call_missed.json"),
        body=b"<call><transaction_id>1</transaction_id></call>",
        headers=_request("post_call_missed.json").headers.with_values(Content_Type="application/xml"),
    )
    with pytest.raises(ParseError, match="XML"):
        make_provider("invoca").normalize(request)


def test_customer_defined_fields_are_kept() -> None:
    [event] = make_provider("invoca").normalize(_request("signal_booked_revenue.json"))
    assert event.custom["job_type"] == "Water heater replacement"
    assert "signal_name" not in event.custom  # it became the lead status


def test_token_carriers_are_declared_for_masking() -> None:
    headers, params = make_provider("invoca").credential_carriers()
    assert "Authorization" in headers
    assert "token" in params
