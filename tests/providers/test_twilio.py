"""Twilio specifics: signatures cross-checked with the official `twilio` validator, call legs."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from twilio.request_validator import RequestValidator

from hub.core.errors import SignatureError
from hub.samples import request_from_file
from tests.providers.support import FIXTURES, RECEIVED_AT, make_provider, payloads
from webhooks.base import FORM_CONTENT_TYPE, Headers, InboundRequest

# From tests/fixtures/providers/twilio/README.md.
SAMPLE_URL = "https://hooks.example.com/twilio/voice-status?tenant=acme-plumbing"
SAMPLE_TOKEN = "twilio_test_auth_token_0123456789ab"
SAMPLE_SIGNATURES = {
    "dial_leg_initiated.form": "tUau5mj4mPzNzfJFJc96ScpZW4M=",
    "dial_leg_ringing.form": "QeiWHUn7VXtWFG2ANLQAFeL4Bhw=",
    "dial_leg_answered.form": "SxErEJholBU63Bc51tQpSiZodeQ=",
    "dial_leg_completed.form": "J442mqK5q6E4tdeLhpZSJS/cNg0=",
    "dial_leg_no_answer.form": "YCRFaF2iBaFCy0MObpNj/A6iFRw=",
}
FORMS = [path.name for path in payloads("twilio") if path.parent.name == "twilio"]


def _request(name: str, url: str = SAMPLE_URL) -> InboundRequest:
    """The fixture as Twilio delivers it to the URL the samples were signed for."""
    return request_from_file(FIXTURES / "twilio" / name, url, RECEIVED_AT)


def _with_signature(request: InboundRequest, signature: str, **headers: str) -> InboundRequest:
    return dataclasses.replace(
        request, headers=request.headers.with_values(X_Twilio_Signature=signature, **headers)
    )


@pytest.mark.parametrize(("name", "signature"), SAMPLE_SIGNATURES.items())
def test_published_sample_signatures(name: str, signature: str) -> None:
    provider = make_provider("twilio")
    assert provider.sign(_request(name), SAMPLE_TOKEN, RECEIVED_AT).headers["X-Twilio-Signature"] == signature
    provider.verify(_with_signature(_request(name), signature), [SAMPLE_TOKEN], RECEIVED_AT)


@pytest.mark.parametrize("name", FORMS)
def test_our_signature_passes_the_official_validator(name: str) -> None:
    request = _request(name)
    signed = make_provider("twilio").sign(request, SAMPLE_TOKEN, RECEIVED_AT)
    assert RequestValidator(SAMPLE_TOKEN).validate(
        request.url, request.params(), signed.headers["X-Twilio-Signature"]
    )


@pytest.mark.parametrize("name", FORMS)
@pytest.mark.parametrize("url", [SAMPLE_URL, "https://hub.example.com:8443/webhooks/twilio-main"])
def test_official_signature_passes_our_check(name: str, url: str) -> None:
    request = _request(name, url)
    params = {key: values[0] for key, values in request.form.items()}
    signature = RequestValidator(SAMPLE_TOKEN).compute_signature(url, params)
    make_provider("twilio").verify(
        _with_signature(request, signature), ["old-token", SAMPLE_TOKEN], RECEIVED_AT
    )


def test_twilios_worked_example() -> None:
    body = (
        b"CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212"
    )
    request = InboundRequest(
        "POST",
        "https://mycompany.com/myapp.php?foo=1&bar=2",
        Headers({"Content-Type": FORM_CONTENT_TYPE}),
        body,
    )
    make_provider("twilio").verify(
        _with_signature(request, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="), ["12345"], RECEIVED_AT
    )


def test_url_signed_with_the_default_port_verifies() -> None:
    # Twilio has signed `https://host:443/...` for URLs configured without a port.
    request = _request("dial_leg_completed.form")
    params = {key: values[0] for key, values in request.form.items()}
    with_port = SAMPLE_URL.replace("hooks.example.com", "hooks.example.com:443")
    signature = RequestValidator(SAMPLE_TOKEN).compute_signature(with_port, params)
    make_provider("twilio").verify(_with_signature(request, signature), [SAMPLE_TOKEN], RECEIVED_AT)


def test_another_public_url_is_refused() -> None:
    # The URL is part of what is signed: a hub reached under another name must be configured so.
    request = _request("dial_leg_completed.form")
    signed = make_provider("twilio").sign(request, SAMPLE_TOKEN, RECEIVED_AT)
    moved = dataclasses.replace(signed, url=SAMPLE_URL.replace("https://", "http://"))
    with pytest.raises(SignatureError) as caught:
        make_provider("twilio").verify(moved, [SAMPLE_TOKEN], RECEIVED_AT)
    assert caught.value.reason == "bad_signature"


def test_webhooks_rule_with_hmac_sha256() -> None:
    settings = {"X_Twilio_Webhooks_Signature_Settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"}
    request = _request("dial_leg_ringing.form")
    params = {key: values[0] for key, values in request.form.items()}
    signature = RequestValidator("shared-key-secret").compute_signature(SAMPLE_URL, params, "HMAC_SHA256")
    make_provider("twilio").verify(
        _with_signature(request, signature, **settings), ["shared-key-secret"], RECEIVED_AT
    )
    sha1 = RequestValidator("shared-key-secret").compute_signature(SAMPLE_URL, params)
    with pytest.raises(SignatureError):
        make_provider("twilio").verify(
            _with_signature(request, sha1, **settings), ["shared-key-secret"], RECEIVED_AT
        )


def test_json_body_is_checked_against_body_sha256() -> None:
    body = b'{"CallSid":"CA1"}'
    url = f"{SAMPLE_URL}&bodySHA256={hashlib.sha256(body).hexdigest()}"
    request = InboundRequest("POST", url, Headers({"Content-Type": "application/json"}), body)
    signature = RequestValidator(SAMPLE_TOKEN).compute_signature(url, {})
    provider = make_provider("twilio")
    provider.verify(_with_signature(request, signature), [SAMPLE_TOKEN], RECEIVED_AT)
    tampered = dataclasses.replace(_with_signature(request, signature), body=b'{"CallSid":"CA2"}')
    with pytest.raises(SignatureError):
        provider.verify(tampered, [SAMPLE_TOKEN], RECEIVED_AT)


def test_legs_of_one_call_share_the_parent_call_id() -> None:
    provider = make_provider("twilio")
    names = [
        "dial_leg_initiated.form",
        "dial_leg_ringing.form",
        "dial_leg_answered.form",
        "dial_leg_completed.form",
        "parent_leg_completed.form",
        "recording_completed.form",
    ]
    events = [event for name in names for event in provider.normalize(_request(name))]
    assert {event.provider_call_id for event in events} == {"CA1f3a5c7e9b2d44f6a8c0e2b4d6f8a0c2"}
    assert [event.kind for event in events] == ["call.started"] * 3 + ["call.completed"] * 2 + [
        "call.updated"
    ]
    assert len({event.id for event in events}) == len(events)


@pytest.mark.parametrize(
    ("status", "normalized"),
    [
        ("no-answer", "missed"),
        ("canceled", "missed"),
        ("busy", "busy"),
        ("failed", "failed"),
        ("completed", "answered"),
    ],
)
def test_final_dial_leg_statuses(status: str, normalized: str) -> None:
    request = _request("dial_leg_no_answer.form")
    body = request.body.replace(b"CallStatus=no-answer", f"CallStatus={status}".encode())
    [event] = make_provider("twilio").normalize(dataclasses.replace(request, body=body))
    assert (event.kind, event.call.status) == ("call.completed", normalized)


def test_unreadable_form_body_is_refused_not_crashed() -> None:
    request = dataclasses.replace(_request("dial_leg_ringing.form"), body=b"CallSid=\xff\xfe")
    with pytest.raises(SignatureError) as caught:
        make_provider("twilio").verify(_with_signature(request, "abc="), [SAMPLE_TOKEN], RECEIVED_AT)
    assert caught.value.reason == "bad_signature"


def test_a_body_on_a_signed_get_is_refused_and_never_parsed() -> None:
    """Twilio signs a GET's URL only: a body smuggled beside a genuine signature is not Twilio's."""
    from datetime import UTC, datetime
    from pathlib import Path

    import pytest

    from hub.core.errors import SignatureError
    from webhooks.base import FORM_CONTENT_TYPE, Headers, InboundRequest, SourceSettings
    from webhooks.registry import create

    provider = create("twilio", SourceSettings("twilio"), Path("mappings"))
    now = datetime.now(UTC)
    url = "https://hub.example/webhooks/twilio?CallSid=CA1&CallStatus=ringing&From=%2B14705550183&To=%2B14045550199"
    signed = provider.sign(InboundRequest("GET", url, Headers(), b"", now), "tok", now)
    provider.verify(signed, ["tok"], now)
    forged = InboundRequest(
        "GET",
        signed.url,
        signed.headers.with_values(Content_Type=FORM_CONTENT_TYPE),
        b"CallSid=CA1&CallStatus=completed&CallDuration=900&From=%2B19995550000",
        now,
    )
    with pytest.raises(SignatureError):
        provider.verify(forged, ["tok"], now)
    assert forged.params()["CallStatus"] == "ringing", "a GET's body is never read as its payload"
