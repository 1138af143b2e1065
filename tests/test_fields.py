"""The coercions every provider relies on, fed the spellings providers really send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hub.core import fields as f
from hub.core.errors import ParseError


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("  ", None), (" x ", "x"), (True, "true"), (13, "13")],
)
def test_text(value: Any, expected: str | None) -> None:
    assert f.text(value) == expected


def test_first_skips_blank_and_empty() -> None:
    assert f.first(None, "", " ", [], {}, 0, "x") == 0
    assert f.first(None, "") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("FALSE", False),
        ("1", True),
        ("0", False),
        ("yes", True),
        (1, True),
        ("", None),
        ("maybe", None),
    ],
)
def test_boolean(value: Any, expected: bool | None) -> None:
    assert f.boolean(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("412", 412),
        (412, 412),
        ("412.0", 412),
        ("6m 52s", 412),
        ("06:52", 412),
        ("0:06:52", 412),
        ("-3", 0),
        ("", None),
    ],
)
def test_seconds(value: Any, expected: int | None) -> None:
    assert f.seconds(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$1,250.00", Decimal("1250.00")),
        ("1250.0", Decimal("1250.0")),
        ("--", None),
        ("", None),
        (12.5, Decimal("12.5")),
    ],
)
def test_decimal(value: Any, expected: Decimal | None) -> None:
    assert f.decimal(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-12T14:22:07.102-04:00", datetime(2024, 3, 12, 18, 22, 7, 102000, tzinfo=UTC)),
        ("2024-03-12 02:22 PM -04:00", datetime(2024, 3, 12, 18, 22, tzinfo=UTC)),
        ("Tue, 12 Mar 2024 18:22:26 +0000", datetime(2024, 3, 12, 18, 22, 26, tzinfo=UTC)),
        (1710267727, datetime(2024, 3, 12, 18, 22, 7, tzinfo=UTC)),
        ("1710267727000", datetime(2024, 3, 12, 18, 22, 7, tzinfo=UTC)),
        ("2018-02-19 18:41:00", datetime(2018, 2, 19, 18, 41, tzinfo=UTC)),
        ("", None),
    ],
)
def test_timestamp(value: Any, expected: datetime | None) -> None:
    assert f.timestamp(value) == expected


def test_timestamp_in_a_local_zone() -> None:
    assert f.timestamp("2024-03-12 14:22:07", assume=ZoneInfo("America/New_York")) == datetime(
        2024, 3, 12, 18, 22, 7, tzinfo=UTC
    )
    assert f.timestamp("2024-03-12T14:22:07+01:00", assume=timezone(timedelta(hours=-5))) == datetime(
        2024, 3, 12, 13, 22, 7, tzinfo=UTC
    )


@pytest.mark.parametrize("value", ["yesterday-ish", 10**20, "2024-13-45"])
def test_unreadable_timestamp_is_a_parse_error(value: Any) -> None:
    with pytest.raises(ParseError):
        f.timestamp(value)


@pytest.mark.parametrize(
    ("value", "expected"), [("us", "US"), ("USA", "US"), ("United Kingdom", "GB"), ("Mars", None)]
)
def test_country_code(value: str, expected: str | None) -> None:
    assert f.country_code(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("GA1.2.1187416732.1710263921", "1187416732.1710263921"),
        ("1187416732.1710263921", "1187416732.1710263921"),
        ("GA1.2.", None),
    ],
)
def test_ga_client_id(value: str, expected: str | None) -> None:
    assert f.ga_client_id(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1710263921", "1710263921"),
        ("GS1.1.1711846522.3.1.1711846790.0.0.0", "1711846522"),
        ("GS2.1.s1710324650$o4$g1", "1710324650"),
        ("x", None),
    ],
)
def test_ga_session_id(value: str, expected: str | None) -> None:
    assert f.ga_session_id(value) == expected


def test_url_params_and_marketing_params() -> None:
    landing = f.url_params("https://x.example/p?utm_source=google&utm_term=a%20b&gclid=abc&utm_medium=")
    assert landing == {"utm_source": "google", "utm_term": "a b", "gclid": "abc"}
    own = {"utm_source": "", "utm_campaign": "spring 🚿", "gclid": None, "fbclid": {"not": "text"}}
    assert f.marketing_params(own, landing) == {
        "utm_source": "google",
        "utm_campaign": "spring 🚿",
        "utm_term": "a b",
        "gclid": "abc",
    }
    assert f.url_params("http://[::1") == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["a", "b", "a"], ("a", "b")),
        ("a, b ,,", ("a", "b")),
        ([{"name": "x"}, {"name": ""}], ("x",)),
        ({"group": "a,b"}, ("a", "b")),
        ([], None),
        ("", None),
    ],
)
def test_tags(value: Any, expected: tuple[str, ...] | None) -> None:
    assert f.tags(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Zoë O'Connor", "Zoë O'Connor"),
        ("WIRELESS CALLER", None),
        ("Wireless  Caller", None),
        ("unavailable", None),
        ("", None),
    ],
)
def test_caller_name(value: str, expected: str | None) -> None:
    assert f.caller_name(value) == expected


def test_utmz() -> None:
    cookie = "98412245.1711846522.3.2.utmcsr=google|utmccn=v%C3%A5r|utmcmd=cpc|utmctr=(not set)|utmgclid=abc"
    assert f.utmz(cookie) == {
        "utm_source": "google",
        "utm_campaign": "vår",
        "utm_medium": "cpc",
        "gclid": "abc",
    }
    assert f.utmz("") == {}
    assert f.utmz("garbage") == {}


def test_shifted() -> None:
    moment = datetime(2024, 3, 12, 18, 22, 7, tzinfo=UTC)
    assert f.shifted(moment, 412) == datetime(2024, 3, 12, 18, 28, 59, tzinfo=UTC)
    assert f.shifted(moment, -7) == datetime(2024, 3, 12, 18, 22, tzinfo=UTC)
    assert f.shifted(moment, None) is None
    assert f.shifted(None, 5) is None
    assert f.shifted(moment, 10**15) is None


@pytest.mark.parametrize(
    ("value", "expected"), [("usd", "USD"), ("GBP", "GBP"), ("$", None), ("euro", None), ("", None)]
)
def test_currency_code(value: str, expected: str | None) -> None:
    assert f.currency_code(value) == expected


def test_money_is_read_strictly_or_not_at_all() -> None:
    from decimal import Decimal

    from hub.core.fields import decimal

    assert decimal("$1,250.00") == Decimal("1250.00")
    assert decimal("(45.00)") == Decimal("-45.00")
    assert decimal("USD 99") == Decimal("99")
    assert decimal("1e3") is None, "an exponent is not an amount a provider sends"
    assert decimal("1.250,00") is None, "ambiguous separators give no amount rather than a wrong one"


def test_fourteen_digits_are_a_compact_time_not_an_epoch() -> None:
    from hub.core.fields import timestamp

    moment = timestamp("20240312142207")
    assert moment is not None
    assert (moment.year, moment.month, moment.day, moment.hour) == (2024, 3, 12, 14)


@pytest.mark.parametrize("value", ["NaN", "NAN", "Infinity", "-inf", float("nan"), float("inf")])
def test_numbers_that_are_no_number_read_as_nothing(value: Any) -> None:
    assert f.integer(value) is None
    assert f.seconds(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "2024-03-12T14:22:07",
        "2024-03-12T14:22:07Z",
        "2024-03-12 14:22:07",
        "2024-03-12T14:22",
        "2024-03-12T14:22:07.1-04:00",
        "2024-03-12T14:22:07.102-04:00",
        "2024-03-12T14:22:07.123456+05:30",
        "2024-03-12T23:59:59+00:00",
        "2024-02-29T00:00:00-12:00",
    ],
)
def test_iso_timestamps_read_as_dateutil_reads_them(value: str) -> None:
    # The standard library reads the common ISO spellings; the instant must be dateutil's.
    from dateutil import parser as date_parser

    zone = ZoneInfo("America/Chicago")
    reference = date_parser.parse(value)
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=zone)
    assert f.timestamp(value, assume=zone) == reference.astimezone(UTC)
    assert f.timestamp(value, assume=zone).tzinfo is UTC  # type: ignore[union-attr]


@pytest.mark.parametrize("value", ["2024-02-30T10:00:00", "2024-03-12T24:00:00", "2024-03-12T14:61"])
def test_impossible_iso_timestamps_are_still_a_parse_error(value: str) -> None:
    with pytest.raises(ParseError):
        f.timestamp(value)
