"""Coercions that every provider needs: providers send the same facts in many spellings.

Each function accepts what providers really send (numbers as strings, booleans as "true",
`""` for null, local times with offsets, epoch seconds or milliseconds, national phone formats)
and returns the normalized value, or None when the input carries nothing.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as date_parser

from hub.core import phones
from hub.core.errors import ParseError

# Phone numbers are read by hub.core.phones; providers coerce them here alongside every other value.
e164 = phones.e164
phone_country = phones.country

_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}
# Epoch values above this are milliseconds (year 33658 in seconds, 1971 in milliseconds).
_EPOCH_MS_THRESHOLD = 10**12


def text(value: Any) -> str | None:
    """A trimmed string, None for missing or blank values."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    result = str(value).strip()
    return result or None


def first(*values: Any) -> Any:
    """The first value that is not None or blank (fallback chains between legacy and new keys)."""
    for value in values:
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if isinstance(value, (list, dict)) and not value:
            continue
        return value
    return None


def dig(data: Any, path: str) -> Any:
    """`dig(d, "ga.cid")`: walk nested mappings (and list indexes), None when any step is missing."""
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def boolean(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    lowered = str(value).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


_DURATION_TEXT = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})$")
_DURATION_UNITS = re.compile(r"(\d+(?:\.\d+)?)\s*(h|hr|hours?|m|min|minutes?|s|sec|seconds?)\b", re.I)


def integer(value: Any) -> int | None:
    """Whole number from ints, floats and numeric strings ("13", "13.0", "1,204")."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    cleaned = str(value).strip().replace(",", "")
    if not cleaned:
        return None
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        return None
    # "NaN" and "Infinity" spell Decimals too, but no whole number.
    return int(number) if number.is_finite() else None


def seconds(value: Any) -> int | None:
    """A duration in seconds from 412, "412", "06:52", "1:02:03" or "6 min 52 sec"."""
    as_int = integer(value)
    if as_int is not None:
        return max(as_int, 0)
    if value is None:
        return None
    raw = str(value).strip()
    clock = _DURATION_TEXT.match(raw)
    if clock:
        hours, minutes, secs = clock.groups()
        return int(hours or 0) * 3600 + int(minutes) * 60 + int(secs)
    total = 0.0
    matched = False
    for amount, unit in _DURATION_UNITS.findall(raw):
        matched = True
        factor = 3600 if unit.lower().startswith("h") else 60 if unit.lower().startswith("m") else 1
        total += float(amount) * factor
    return int(total) if matched else None


def decimal(value: Any) -> Decimal | None:
    """Money: "", None -> None; "$1,250.00" -> Decimal("1250.00")."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value))
    raw = str(value).strip()
    # Accounting negatives: "(45.00)" is -45.00.
    negative = raw.startswith("(") and raw.endswith(")")
    cleaned = re.sub(r"[\s$€£¥()]|^[A-Z]{3}|[A-Z]{3}$", "", raw.upper())
    # Thousands separators are commas; a comma elsewhere ("1.250,00") or exponents are ambiguous
    # for money, and a wrong amount is worse than none.
    if not re.fullmatch(r"-?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?", cleaned):
        return None
    try:
        amount = Decimal(cleaned.replace(",", ""))
    except InvalidOperation:
        return None
    return -amount if negative else amount


def zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


# ISO 8601 as most providers send it ("2024-05-01T14:03:11.123-04:00", "...Z"): the standard
# library reads it to the same instant as dateutil at a twentieth of the cost (timestamps are
# read on every webhook); everything else (RFC 2822, loose spellings) goes to dateutil.
_ISO_8601 = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?")


def _read_time(raw: str) -> datetime:
    if _ISO_8601.fullmatch(raw):
        with contextlib.suppress(ValueError):  # out-of-range fields: dateutil words the error
            return datetime.fromisoformat(raw)
    return date_parser.parse(raw)


def timestamp(value: Any, *, assume: tzinfo | None = UTC) -> datetime | None:
    """Aware UTC datetime from ISO 8601 (with or without offset), RFC 2822, epoch s or ms.

    `assume` is the zone of offset-less text (a provider's account zone); None refuses to guess.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, (int, float)) or (
        # Epoch seconds (10 digits) or milliseconds (13); 14 digits are a compact time, not an epoch.
        isinstance(value, str) and re.fullmatch(r"\d{9,13}(\.\d+)?", value.strip())
    ):
        number = float(value)
        if number > _EPOCH_MS_THRESHOLD:
            number /= 1000
        try:
            return datetime.fromtimestamp(number, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ParseError(f"epoch time {value!r} is out of range") from exc
    else:
        raw = str(value).strip()
        if not raw:
            return None
        try:
            parsed = _read_time(raw)
        except (ValueError, OverflowError) as exc:
            raise ParseError(f"unreadable time {raw!r}: {exc}") from exc
    if parsed.tzinfo is None:
        if assume is None:
            raise ParseError(f"time {value!r} has no offset and the source's time zone is unknown")
        parsed = parsed.replace(tzinfo=assume)
    return parsed.astimezone(UTC)


def country_code(value: Any) -> str | None:
    """ISO 3166 alpha-2 from "US", "us", "USA" or a few common names; None when unsure."""
    raw = text(value)
    if raw is None:
        return None
    upper = raw.upper()
    if len(upper) == 2 and upper.isalpha():
        return upper
    return _COUNTRY_ALIASES.get(upper)


_COUNTRY_ALIASES = {
    "USA": "US",
    "UNITED STATES": "US",
    "UNITED STATES OF AMERICA": "US",
    "CAN": "CA",
    "CANADA": "CA",
    "GBR": "GB",
    "UK": "GB",
    "UNITED KINGDOM": "GB",
    "AUS": "AU",
    "AUSTRALIA": "AU",
    "MEX": "MX",
    "MEXICO": "MX",
    "DEU": "DE",
    "GERMANY": "DE",
    "FRA": "FR",
    "FRANCE": "FR",
    "IRL": "IE",
    "IRELAND": "IE",
    "NZL": "NZ",
    "NEW ZEALAND": "NZ",
}

_GA_COOKIE = re.compile(r"^(?:GA\d+\.\d+\.)?(\d+\.\d+)$")


def ga_client_id(value: Any) -> str | None:
    """GA client id `<number>.<number>` from a client id or a `_ga` cookie (`GA1.2.X.Y`)."""
    raw = text(value)
    if raw is None:
        return None
    match = _GA_COOKIE.match(raw)
    return match.group(1) if match else None


_GS_SESSION = re.compile(r"^GS\d\.\d\.s?(\d+)")


def ga_session_id(value: Any) -> str | None:
    """GA4 session id from a plain id or a `_ga_<stream>` cookie (GS1.1.<id>... or GS2.1.s<id>$...)."""
    raw = text(value)
    if raw is None:
        return None
    if raw.isdigit():
        return raw
    match = _GS_SESSION.match(raw)
    return match.group(1) if match else None


UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
CLICK_ID_KEYS = ("gclid", "gbraid", "wbraid", "fbclid", "msclkid")


def url_params(url: Any) -> dict[str, str]:
    """Query parameters of a landing-page URL (UTMs and click ids often live only there)."""
    raw = text(url)
    if raw is None:
        return {}
    try:
        query = urlsplit(raw).query
    except ValueError:
        return {}
    return {key: values[0] for key, values in parse_qs(query).items() if values and values[0]}


def tags(value: Any) -> tuple[str, ...] | None:
    """Tags from a list, a comma string, or a mapping of group -> comma string."""
    if value is None or value == "":
        return None
    items: Iterable[Any]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, Mapping):
        items = [part for v in value.values() for part in (tags(v) or ())]
    elif isinstance(value, (list, tuple)):
        items = [v.get("name") if isinstance(v, Mapping) else v for v in value]
    else:
        items = [value]
    cleaned = tuple(dict.fromkeys(t for t in (text(item) for item in items) if t))
    return cleaned or None


def lower(value: Any) -> str | None:
    raw = text(value)
    return raw.lower() if raw else None


# Caller-ID (CNAM) fillers that name nobody: a CRM lead called "Wireless Caller" is worse than none.
_CNAM_PLACEHOLDERS = frozenset(
    {
        "WIRELESS CALLER",
        "UNKNOWN",
        "UNKNOWN CALLER",
        "UNKNOWN NAME",
        "UNAVAILABLE",
        "NOT AVAILABLE",
        "PRIVATE",
        "PRIVATE CALLER",
        "PRIVATE NUMBER",
        "ANONYMOUS",
        "RESTRICTED",
        "BLOCKED",
        "NO CALLER ID",
        "OUT OF AREA",
        "TOLL FREE CALL",
    }
)


# US states, DC and Canadian provinces: caller ID of a mobile often shows "<CITY> <ST>".
_REGION_CODES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "PR",
        "AB",
        "BC",
        "MB",
        "NB",
        "NL",
        "NS",
        "NT",
        "NU",
        "ON",
        "PE",
        "QC",
        "SK",
        "YT",
    ]
)


def caller_name(value: Any, *, city: str | None = None, region: str | None = None) -> str | None:
    """A caller's name, None for caller-ID placeholders ("WIRELESS CALLER", "UNAVAILABLE").

    With the caller's city or region known, a caller ID that only names the place the number
    belongs to ("LAGUNA BEACH CA", "Laguna Beach Ca") is a placeholder too.
    """
    raw = text(value)
    if raw is None:
        return None
    words = raw.upper().replace(",", " ").split()
    if " ".join(words) in _CNAM_PLACEHOLDERS:
        return None
    if len(words) >= 2 and words[-1] in _REGION_CODES:
        place = " ".join(words[:-1])
        same_city = city is not None and place == " ".join(city.upper().split())
        same_region = region is not None and words[-1] == region.strip().upper()
        if same_city or same_region:
            return None
    return raw


_UTMZ_KEYS = {
    "utmcsr": "utm_source",
    "utmcmd": "utm_medium",
    "utmccn": "utm_campaign",
    "utmctr": "utm_term",
    "utmcct": "utm_content",
    "utmgclid": "gclid",
}


def utmz(value: Any) -> dict[str, str]:
    """UTM values of a Universal Analytics `__utmz` cookie (`1.1710.1.1.utmcsr=google|utmcmd=cpc`)."""
    raw = text(value)
    if raw is None:
        return {}
    found: dict[str, str] = {}
    # The first pair is glued to the cookie's numeric prefix by a dot.
    for part in raw.split("|"):
        name, separator, content = part.partition("=")
        key = _UTMZ_KEYS.get(name.rsplit(".", 1)[-1].strip())
        cleaned = unquote(content).strip()
        if separator and key and cleaned and cleaned != "(not set)":
            found[key] = cleaned
    return found


def marketing_params(*sources: Mapping[str, Any]) -> dict[str, str]:
    """UTM values and click ids, each from the first source that has it.

    Pass the provider's own fields first and `url_params(landing_page)` after: many setups carry
    a UTM or a gclid only in the landing page's query string.
    """
    found: dict[str, str] = {}
    for key in (*UTM_KEYS, *CLICK_ID_KEYS):
        candidates = (source.get(key) for source in sources)
        value = text(first(*(c for c in candidates if isinstance(c, (str, int)))))
        if value is not None:
            found[key] = value
    return found


def shifted(moment: datetime | None, seconds: int | None) -> datetime | None:
    """`moment` plus `seconds` (negative goes back); None when either is missing or out of range."""
    if moment is None or seconds is None:
        return None
    try:
        return moment + timedelta(seconds=seconds)
    except OverflowError:
        return None


def currency_code(value: Any) -> str | None:
    """ISO 4217 code ("usd" -> "USD"); None for symbols or anything else that is not three letters."""
    raw = text(value)
    if raw is None or len(raw) != 3 or not raw.isascii() or not raw.isalpha():
        return None
    return raw.upper()
