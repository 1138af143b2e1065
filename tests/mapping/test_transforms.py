"""Every transform in the fixed list, on the values events really hold."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from hub.mapping import TRANSFORMS
from hub.mapping.transforms import Step, TransformError, run_steps
from tests.mapping.conftest import answered_call

MOMENT = datetime(2024, 5, 1, 14, 4, 5, 123456, tzinfo=UTC)
PHONE_HASH = hashlib.sha256(b"+14155550100").hexdigest()

CASES = [
    ("e164", None, "+14155550100", "+14155550100"),
    ("e164", None, "(415) 555-0100", "+14155550100"),
    ("e164", None, "0044 20 7946 0958", "+442079460958"),
    ("e164", None, "447700900123", "+447700900123"),
    ("e164", None, "anonymous", None),
    ("national", None, "+14155550100", "(415) 555-0100"),
    ("national", None, "12", None),
    ("lower", None, "Ada@Example.COM", "ada@example.com"),
    ("upper", None, "usd", "USD"),
    ("truncate", 5, "Lovelace", "Lovel"),
    ("truncate", 50, "Ada", "Ada"),
    ("date", None, MOMENT, "2024-05-01"),
    ("date", None, datetime(2024, 5, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5))), "2024-05-02"),
    ("datetime", None, MOMENT, "2024-05-01T14:04:05.123456Z"),
    ("datetime", None, "2024-05-01T10:04:05-04:00", "2024-05-01T14:04:05Z"),
    ("unix_micros", None, MOMENT, 1714572245123456),
    ("unix_seconds", None, MOMENT, 1714572245),
    ("minutes", None, 125, 2.08),
    ("minutes", None, 60, 1.0),
    ("milliseconds", None, 125, 125000),
    ("milliseconds", None, Decimal("1.5"), 1500),
    ("join", ", ", ("Booked", "vip"), "Booked, vip"),
    ("join", ";", (), None),
    ("sha256_e164", None, "(415) 555-0100", PHONE_HASH),
    ("sha256_e164", None, "+1 415 555 0100", PHONE_HASH),
    ("sha256_e164", None, "withheld", None),
    ("sha256", None, " Ada@Example.com ", hashlib.sha256(b"ada@example.com").hexdigest()),
    ("sha256", None, "  ", None),
    ("map", {"good_lead": "Qualified"}, "good_lead", "Qualified"),
    ("map", {"good_lead": "Qualified"}, "other", None),
    ("map", {"good_lead": "Qualified", "default": "Open"}, "other", "Open"),
    ("map", {True: "hot", False: "cold"}, False, "cold"),
    ("map", {1: "one"}, True, None),
    ("string", None, True, "true"),
    ("string", None, Decimal("250.50"), "250.50"),
    ("string", None, 125, "125"),
    ("string", None, MOMENT.replace(microsecond=0), "2024-05-01T14:04:05Z"),
    ("number", None, Decimal("250.50"), 250.5),
    ("number", None, "1,250", 1250),
    ("number", None, "12.5", 12.5),
    ("number", None, "n/a", None),
    ("number", None, 7, 7),
    ("boolean", None, "Yes", True),
    ("boolean", None, 0, False),
    ("boolean", None, "maybe", None),
]


@pytest.mark.parametrize(("name", "argument", "value", "expected"), CASES)
def test_transform(name, argument, value, expected):
    assert Step(name, argument).apply(value) == expected


def test_every_transform_is_covered():
    assert {case[0] for case in CASES} == set(TRANSFORMS)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("lower", ["a"]),
        ("minutes", True),
        ("date", "yesterday"),
        ("date", 5),
        ("join", "a,b"),
        ("number", False),
    ],
)
def test_wrong_runtime_type_raises(name, value):
    argument = ", " if name == "join" else None
    with pytest.raises(TransformError):
        Step(name, argument).apply(value)


def test_steps_run_in_order_and_stop_at_none():
    steps = (Step("map", {"good_lead": "qualified"}), Step("upper"), Step("truncate", 4))
    assert run_steps(steps, "good_lead") == "QUAL"
    assert run_steps(steps, "unknown") is None


def test_transform_list_in_a_mapping(mapping_from):
    mapping = mapping_from(
        """
        version: 1
        object: Lead
        fields:
          Description: {from: outcome.tags, transform: [{join: " / "}, upper, {truncate: 9}]}
        """
    )
    assert mapping.render(answered_call()).fields == {"Description": "BOOKED / "}
