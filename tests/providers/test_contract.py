"""The contract every provider keeps, run over every provider x every payload fixture.

Providers are found from the fixture folders and the registry (built-in modules and YAML
definitions alike); which signature checks apply comes from the provider's own declaration
(`signs_body`, `signs_timestamp`, `uses_token` on `webhooks.base.Provider`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from hub.core.errors import NotACall, SignatureError
from hub.receive import masked_url, stored_headers
from tests.providers.support import (
    RECEIVED_AT,
    expected_path,
    fixture_request,
    fixture_slugs,
    make_provider,
    matches,
    outcome,
    payloads,
    provider_slugs,
)
from webhooks.base import Headers, InboundRequest, Provider

SECRET = "contract-secret-current"
OTHER_SECRET = "contract-secret-previous"
NOW = RECEIVED_AT
STALE = timedelta(hours=1)


Case = tuple[str, Path, Provider, InboundRequest]


def _cases(
    applies: Callable[[Provider, InboundRequest], bool] = lambda _p, _r: True,
) -> list[pytest.ParameterSet]:
    """(slug, fixture) pairs of every known provider for which a check applies."""
    known = set(provider_slugs())
    selected = []
    for slug in fixture_slugs():
        if slug not in known:
            continue  # reported once by test_every_fixture_folder_has_a_provider
        provider = make_provider(slug)
        for path in payloads(slug):
            if applies(provider, fixture_request(slug, path)):
                selected.append(pytest.param((slug, path), id=f"{slug}/{path.name}"))
    return selected


def _signs_body(provider: Provider, _: InboundRequest) -> bool:
    return provider.signs_body


def _signs_a_body(provider: Provider, request: InboundRequest) -> bool:
    return provider.signs_body and bool(request.body)


def _signs_timestamp(provider: Provider, _: InboundRequest) -> bool:
    return provider.signs_timestamp


def _uses_token(provider: Provider, _: InboundRequest) -> bool:
    return provider.uses_token


@pytest.fixture
def case(request: pytest.FixtureRequest) -> Case:
    slug, path = request.param
    return slug, path, make_provider(slug), fixture_request(slug, path)


def _refused(provider: Provider, request: InboundRequest, secrets: list[str]) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        provider.verify(request, secrets, NOW)
    return caught.value


def _payload_of(request: InboundRequest) -> bytes:
    return request.body or request.url.partition("?")[2].encode()


def _with_payload(request: InboundRequest, payload: bytes) -> InboundRequest:
    if request.body:
        return dataclasses.replace(request, body=payload)
    base = request.url.partition("?")[0]
    return dataclasses.replace(request, url=f"{base}?{payload.decode()}")


def _tampered(payload: bytes) -> bytes:
    """The payload with one digit changed: still well-formed, no longer what was signed."""
    match = re.search(rb"\d", payload)
    assert match is not None, "fixture payload has no digit to tamper with"
    digit = match.group()
    replacement = b"1" if digit == b"0" else b"0"
    return payload[: match.start()] + replacement + payload[match.end() :]


# --- every provider ------------------------------------------------------------------------


def test_every_fixture_folder_has_a_provider() -> None:
    missing = sorted(set(fixture_slugs()) - set(provider_slugs()))
    assert not missing, f"fixture folders without a provider module or YAML definition: {missing}"


def test_every_provider_has_fixtures() -> None:
    folders = set(fixture_slugs())
    missing = [slug for slug in provider_slugs() if slug not in folders or not payloads(slug)]
    assert not missing, f"providers without payload fixtures in tests/fixtures/providers/: {missing}"


@pytest.mark.parametrize("case", _cases(), indirect=True)
def test_signed_delivery_is_accepted(case: Case) -> None:
    _, _, provider, request = case
    signed = provider.sign(request, SECRET, NOW)
    provider.verify(signed, [SECRET], NOW)


@pytest.mark.parametrize("case", _cases(), indirect=True)
def test_signing_leaves_the_payload_alone(case: Case) -> None:
    _, _, provider, request = case
    signed = provider.sign(request, SECRET, NOW)
    assert signed.body == request.body
    assert signed.method == request.method


@pytest.mark.parametrize("case", _cases(), indirect=True)
def test_unsigned_delivery_is_refused(case: Case) -> None:
    _, _, provider, request = case
    assert _refused(provider, request, [SECRET]).reason == "missing_signature"


@pytest.mark.parametrize("case", _cases(), indirect=True)
def test_wrong_secret_is_refused(case: Case) -> None:
    _, _, provider, request = case
    signed = provider.sign(request, OTHER_SECRET, NOW)
    assert _refused(provider, signed, [SECRET]).reason == "bad_signature"


@pytest.mark.parametrize("case", _cases(), indirect=True)
def test_rotation_accepts_any_configured_secret(case: Case) -> None:
    _, _, provider, request = case
    signed = provider.sign(request, OTHER_SECRET, NOW)
    provider.verify(signed, [SECRET, OTHER_SECRET], NOW)
    provider.verify(signed, [OTHER_SECRET, SECRET], NOW)


@pytest.mark.parametrize("case", _cases(), indirect=True)
def test_normalized_output_matches_expected(case: Case) -> None:
    slug, path, _, request = case
    snapshot = expected_path(path)
    assert snapshot.exists(), (
        f"no {snapshot.name}: run `.venv/bin/python -m tests.providers.support {slug}`, then read it"
    )
    expected = json.loads(snapshot.read_text(encoding="utf-8"))
    assert matches(outcome(slug, request), expected)


@pytest.mark.parametrize("case", _cases(), indirect=True)
def test_signature_does_not_change_the_events(case: Case) -> None:
    # A token in the URL or a signature header must not make the same delivery a new one.
    slug, _, provider, request = case
    assert outcome(slug, provider.sign(request, SECRET, NOW)) == outcome(slug, request)


# --- providers that sign the payload -------------------------------------------------------


@pytest.mark.parametrize("case", _cases(_signs_body), indirect=True)
def test_tampered_payload_is_refused(case: Case) -> None:
    _, _, provider, request = case
    signed = provider.sign(request, SECRET, NOW)
    tampered = _with_payload(signed, _tampered(_payload_of(signed)))
    assert _refused(provider, tampered, [SECRET]).reason == "bad_signature"


@pytest.mark.parametrize("case", _cases(_signs_a_body), indirect=True)
def test_trailing_newline_is_refused(case: Case) -> None:
    _, _, provider, request = case
    signed = provider.sign(request, SECRET, NOW)
    assert _refused(provider, dataclasses.replace(signed, body=signed.body + b"\n"), [SECRET]).reason == (
        "bad_signature"
    )


# --- providers that sign a delivery time ---------------------------------------------------


@pytest.mark.parametrize("case", _cases(_signs_timestamp), indirect=True)
def test_stale_signature_is_refused(case: Case) -> None:
    _, _, provider, request = case
    signed = provider.sign(request, SECRET, NOW - STALE)
    assert _refused(provider, signed, [SECRET]).reason == "stale_signature"


@pytest.mark.parametrize("case", _cases(_signs_timestamp), indirect=True)
def test_recent_signature_is_accepted(case: Case) -> None:
    _, _, provider, request = case
    provider.verify(provider.sign(request, SECRET, NOW - timedelta(seconds=30)), [SECRET], NOW)


# --- providers that use a shared token -----------------------------------------------------


@pytest.mark.parametrize("case", _cases(_uses_token), indirect=True)
def test_token_must_match_exactly(case: Case) -> None:
    _, _, provider, request = case
    for near_miss in (SECRET.upper(), SECRET[:-1], SECRET + "x"):
        signed = provider.sign(request, near_miss, NOW)
        assert _refused(provider, signed, [SECRET]).reason == "bad_signature"


@pytest.mark.parametrize("case", _cases(), indirect=True)
def test_stored_delivery_keeps_no_secret_and_replays_the_same(case: Case) -> None:
    # The hub stores the delivery with the provider's credential carriers masked, and a replay
    # re-parses that stored copy with the receipt key kept at reception.
    _, _, provider, request = case
    signed = provider.sign(request, SECRET, NOW)
    secret_headers, secret_params = provider.credential_carriers()
    stored = dataclasses.replace(
        signed,
        url=masked_url(signed.url, secret_params),
        headers=Headers(stored_headers(signed, secret_headers)),
    )
    assert SECRET not in stored.url
    assert all(SECRET not in value for value in stored.headers.values())
    try:
        replayed = provider.normalize(stored, receipt_key=provider.receipt_key(signed))
    except NotACall:
        with pytest.raises(NotACall):
            provider.normalize(signed)
        return
    assert replayed == provider.normalize(signed)
