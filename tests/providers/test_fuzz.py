"""Fuzzed deliveries: whatever arrives, normalizing it yields events or an explained ParseError.

Payloads are the fixtures with values replaced, keys dropped or added, or plain random bytes.
Example counts stay small so the suite stays fast; every provider gets the same treatment.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.core.errors import NotACall, ParseError, SignatureError
from hub.core.events import validate_event
from hub.samples import request_from_bytes
from tests.providers.support import (
    RECEIVED_AT,
    fixture_request,
    hub_url,
    make_provider,
    payloads,
    provider_slugs,
)
from webhooks.base import InboundRequest

#: Every provider the registry knows (built-in or YAML-defined) is fuzzed; one without fixtures
#: fails here rather than being skipped.
PROVIDERS = provider_slugs()

FUZZ = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Values providers really send in odd places, beside random text.
_ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "true",
        "FALSE",
        "null",
        "NaN",
        "1e309",
        "1710267727",
        "1710267727000",
        "99999999999999",
        "2024-13-45 25:61",
        "2024-03-12 02:22 PM -04:00",
        "Tue, 12 Mar 2024 18:22:26 +0000",
        "+",
        "+44 20 7946 0958",
        "client:agent",
        "GA1.2.",
        "GS2.1.s",
        "$1,2,3.4.5",
        "06:52",
        "6 min",
        "a,,b, ,c",
        "https://x.example/?utm_source=&gclid",
        "http://[::1",
        "🚿",
        "\x00",
    ]
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
    | _ODD_TEXT
)
_JSON_VALUES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
_FORM_VALUES = st.text(max_size=24) | _ODD_TEXT | st.integers().map(str)


def _mutated_json(data: st.DataObject, raw: bytes) -> bytes:
    payload: Any = json.loads(raw)
    if not isinstance(payload, dict):
        return raw
    for _ in range(data.draw(st.integers(min_value=1, max_value=8))):
        key = data.draw(st.sampled_from(sorted(payload)) | st.text(max_size=12)) if payload else "x"
        if data.draw(st.booleans()):
            payload[key] = data.draw(_JSON_VALUES)
        else:
            payload.pop(key, None)
    return json.dumps(payload).encode()


def _mutated_form(data: st.DataObject, raw: bytes) -> bytes:
    pairs = parse_qsl(raw.decode().strip(), keep_blank_values=True)
    for _ in range(data.draw(st.integers(min_value=1, max_value=8))):
        if not pairs:
            break
        index = data.draw(st.integers(min_value=0, max_value=len(pairs) - 1))
        if data.draw(st.booleans()):
            pairs[index] = (pairs[index][0], data.draw(_FORM_VALUES))
        else:
            del pairs[index]
    return urlencode(pairs).encode()


def _mutated_request(slug: str, data: st.DataObject) -> InboundRequest:
    path: Path = data.draw(st.sampled_from(payloads(slug)))
    raw = path.read_bytes()
    body = _mutated_json(data, raw) if path.suffix == ".json" else _mutated_form(data, raw)
    return request_from_bytes(path.name, body, hub_url(slug), RECEIVED_AT)


def _normalizes_or_explains(slug: str, request: InboundRequest) -> None:
    try:
        make_provider(slug).normalize(request)
    except (ParseError, NotACall) as exc:
        explanation = exc.message
    else:
        return
    assert explanation, "a parse failure must say what is wrong"


@pytest.mark.parametrize("slug", PROVIDERS)
@FUZZ
@given(data=st.data())
def test_mutated_payload_yields_events_or_parse_error(slug: str, data: st.DataObject) -> None:
    _normalizes_or_explains(slug, _mutated_request(slug, data))


@pytest.mark.parametrize("slug", PROVIDERS)
@FUZZ
@given(body=st.binary(max_size=256), suffix=st.sampled_from([".json", ".form", "_get_query.form"]))
def test_random_bytes_yield_events_or_parse_error(slug: str, body: bytes, suffix: str) -> None:
    if suffix.endswith(".form"):
        # A query string or a form body is text on the wire.
        body = body.decode("latin-1").encode()
    _normalizes_or_explains(slug, request_from_bytes(f"fuzz{suffix}", body, hub_url(slug), RECEIVED_AT))


@pytest.mark.parametrize("slug", PROVIDERS)
@FUZZ
@given(data=st.data())
def test_parser_raises_nothing_but_parse_error(slug: str, data: st.DataObject) -> None:
    # Not even the base class's safety net may be relied on: anything but a ParseError out of
    # `parse()` is a parser bug.
    provider = make_provider(slug)
    request = _mutated_request(slug, data)
    try:
        events = provider.parse(request)
    except (ParseError, NotACall):
        return
    for event in events:
        # The contract refuses blank ids; the hub stamps them after parsing.
        validate_event(dataclasses.replace(event, id="evt_fuzz", source=slug))


@pytest.mark.parametrize("slug", PROVIDERS)
@FUZZ
@given(data=st.data(), body=st.binary(max_size=256), secret=st.text(min_size=1, max_size=40))
def test_verify_refuses_garbage_with_a_signature_error(
    slug: str, data: st.DataObject, body: bytes, secret: str
) -> None:
    # Noise where a signature, token or signed payload should be: refused (401), never a crash.
    provider = make_provider(slug)
    path: Path = data.draw(st.sampled_from(payloads(slug)))
    request = fixture_request(slug, path)
    if secret != "fuzz-secret":
        with pytest.raises(SignatureError):
            provider.verify(provider.sign(request, secret, RECEIVED_AT), ["fuzz-secret"], RECEIVED_AT)
    if not (provider.signs_body and request.body and body != request.body):
        return
    signed = provider.sign(request, "fuzz-secret", RECEIVED_AT)
    with pytest.raises(SignatureError):
        provider.verify(dataclasses.replace(signed, body=body), ["fuzz-secret"], RECEIVED_AT)
