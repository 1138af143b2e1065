"""The one phone reader: every spelling of a number providers, CRMs and mappings hold."""

from __future__ import annotations

import hashlib

import pytest

from connectors.hubspot.contacts import contact_state_key
from connectors.salesforce.lookup import person_state_key
from hub.core import phones
from hub.core.phones import caller_key


@pytest.mark.parametrize(
    ("value", "region", "expected"),
    [
        ("(470) 555-0183", "US", "+14705550183"),
        ("4705550183", "US", "+14705550183"),
        ("14705550183", "US", "+14705550183"),
        ("470-555-0183", "US", "+14705550183"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("0044 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("client:agent42", "US", None),
        ("anonymous", "US", None),
        ("123", "US", None),
    ],
)
def test_e164(value: str, region: str, expected: str | None) -> None:
    assert phones.e164(value, region) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [("+442079460958", "GB"), ("+14045550147", "US"), ("+800 1234 5678", None), (None, None)],
)
def test_country(number: str | None, expected: str | None) -> None:
    assert phones.country(number) == expected


def test_international_digits_without_plus_keep_their_country() -> None:
    assert phones.e164("447700900123", "US") == "+447700900123"
    assert phones.e164("14705550183", "US") == "+14705550183"
    assert phones.e164("4705550183", "US") == "+14705550183"


def test_the_region_reads_national_formats_only() -> None:
    assert phones.e164("020 7946 0958", "GB") == "+442079460958"
    assert phones.e164("020 7946 0958", "US") is None
    assert phones.e164("+1 470 555 0183", "GB") == "+14705550183"


def test_national_is_written_as_the_numbers_own_country_writes_it() -> None:
    assert phones.national("+14155550100") == "(415) 555-0100"
    assert phones.national("+442079460958") == "020 7946 0958"
    assert phones.national("12") is None


@pytest.mark.parametrize("value", [None, "", "   ", True, "sip:alice@example.com", "withheld"])
def test_nothing_usable_is_none(value: object) -> None:
    assert phones.parse(value) is None


@pytest.mark.parametrize(
    "value", ["+11111111111", "+10000000000", "+266696687", "+15551234567", "(415) 155-0100"]
)
def test_placeholders_are_no_number(value: str) -> None:
    assert phones.e164(value) is None


def test_caller_key_is_the_stable_digest_connectors_and_erasure_share() -> None:
    # Stored connector state is keyed by it: the value must never change between releases.
    assert caller_key("+14705550183") == hashlib.sha256(b"+14705550183").hexdigest()[:24]
    assert caller_key("+14705550183") == "e02119e3f37d957c6d059b05"
    assert "14705550183" not in caller_key("+14705550183")
    assert person_state_key("+14705550183") == f"person:{caller_key('+14705550183')}"
    assert contact_state_key("+14705550183") == f"contact:{caller_key('+14705550183')}"


def test_repeated_reads_of_a_number_give_the_same_answer() -> None:
    # Text is read once and remembered; other values (integers from JSON) are read each time.
    for _ in range(3):
        assert phones.e164("(470) 555-0183") == "+14705550183"
        assert phones.e164("020 7946 0958", "GB") == "+442079460958"
        assert phones.e164("020 7946 0958", "US") is None
        assert phones.e164(14705550183) == "+14705550183"
        assert phones.e164(" 4705550183 ") == "+14705550183"
