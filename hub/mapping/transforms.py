"""The fixed list of value transforms a mapping may name: data in YAML, behaviour only here.

Each transform declares which value kinds it accepts and which it returns, so a mapping file is
type-checked when it loads rather than when a call arrives. A transform returns None when the value
carries nothing usable (an unparseable phone number, an empty list): the field is then omitted or
takes the rule's `default`. Values of the wrong runtime type (possible only under `custom.`) raise
`TransformError`, which rendering reports against the field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from hub.core import phones
from hub.mapping.paths import Kind

Argument = Literal["none", "length", "separator", "vocabulary", "zone"]

#: The key inside a `map` vocabulary naming the value for anything not listed.
MAP_DEFAULT: Final = "default"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_TRUE_WORDS: Final = frozenset({"true", "yes", "y", "1", "on"})
_FALSE_WORDS: Final = frozenset({"false", "no", "n", "0", "off"})


class TransformError(ValueError):
    """A value of a type the transform cannot handle reached it at render time."""


@dataclass(frozen=True)
class Transform:
    name: str
    accepts: frozenset[Kind]
    #: Kind of the result; None when it depends on the argument (`map`).
    returns: Kind | None
    argument: Argument
    summary: str
    apply: Callable[[Any, Any], Any]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return str(value)
    raise TransformError(f"expects text, got {type(value).__name__}")


def _e164(value: Any, _: Any) -> str | None:
    return phones.e164(_text(value))


def _national(value: Any, _: Any) -> str | None:
    return phones.national(_text(value))


def _sha256_e164(value: Any, _: Any) -> str | None:
    number = _e164(value, None)
    return None if number is None else hashlib.sha256(number.encode()).hexdigest()


def _sha256(value: Any, _: Any) -> str | None:
    normalized = _text(value).strip().lower()
    return hashlib.sha256(normalized.encode()).hexdigest() if normalized else None


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise TransformError(f"expects an ISO 8601 time, got {value!r}") from None
    else:
        raise TransformError(f"expects a time, got {type(value).__name__}")
    if moment.tzinfo is None:
        raise TransformError("expects a time with a UTC offset")
    return moment.astimezone(UTC)


def iso_datetime(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as the event JSON contract writes times."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _seconds(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise TransformError(f"expects a number of seconds, got {type(value).__name__}")
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise TransformError(f"expects a number of seconds, got {value!r}") from None


def _minutes(value: Any, _: Any) -> float:
    return round(float(_seconds(value) / 60), 2)


def _milliseconds(value: Any, _: Any) -> int:
    return int(_seconds(value) * 1000)


def _join(value: Any, separator: Any) -> str | None:
    if not isinstance(value, (list, tuple)):
        raise TransformError(f"expects a list, got {type(value).__name__}")
    items = [_text(item) for item in value if item is not None and item != ""]
    return str(separator).join(items) if items else None


def _map(value: Any, vocabulary: Any) -> Any:
    if isinstance(value, (list, tuple, dict)):
        raise TransformError(f"expects a single value, got {type(value).__name__}")
    for key, mapped in vocabulary.items():
        if key != MAP_DEFAULT and key == value and isinstance(key, bool) == isinstance(value, bool):
            return mapped
    return vocabulary.get(MAP_DEFAULT)


def _string(value: Any, _: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso_datetime(value)
    return _text(value)


def _number(value: Any, _: Any) -> int | float | None:
    if isinstance(value, bool):
        raise TransformError("expects a number, got a boolean")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, Decimal):
        return float(value)
    try:
        parsed = Decimal(_text(value).strip().replace(",", ""))
    except InvalidOperation:
        return None
    return int(parsed) if parsed == parsed.to_integral_value() and "." not in str(value) else float(parsed)


def _boolean(value: Any, _: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        return bool(value)
    word = _text(value).strip().lower()
    return True if word in _TRUE_WORDS else False if word in _FALSE_WORDS else None


_TEXT: Final[frozenset[Kind]] = frozenset({"text"})
_TIME: Final[frozenset[Kind]] = frozenset({"datetime"})
_AMOUNT: Final[frozenset[Kind]] = frozenset({"integer", "number"})
_SCALAR: Final[frozenset[Kind]] = frozenset({"text", "integer", "number", "boolean"})


def _t(
    name: str,
    accepts: frozenset[Kind],
    returns: Kind | None,
    summary: str,
    apply: Any,
    argument: Argument = "none",
) -> Transform:
    return Transform(name, accepts, returns, argument, summary, apply)


_ALL: Final = (
    _t(
        "e164",
        _TEXT,
        "text",
        "Phone number in E.164 (`+14155550100`); national numbers read as US, international digits without + as international.",
        _e164,
    ),
    _t("national", _TEXT, "text", "Phone number in national format (`(415) 555-0100`).", _national),
    _t("lower", _TEXT, "text", "Lower-cased text.", lambda value, _: _text(value).lower()),
    _t("upper", _TEXT, "text", "Upper-cased text.", lambda value, _: _text(value).upper()),
    _t(
        "truncate",
        _TEXT,
        "text",
        "Text cut to at most N characters: `{truncate: 80}`.",
        lambda value, length: _text(value)[:length],
        "length",
    ),
    _t(
        "date",
        _TIME,
        "text",
        "Date `YYYY-MM-DD`, in UTC or in a zone: `{date: America/New_York}` (a 9 pm call stays on its day).",
        lambda value, zone: _moment(value).astimezone(ZoneInfo(zone) if zone else UTC).date().isoformat(),
        "zone",
    ),
    _t(
        "datetime",
        _TIME,
        "text",
        "ISO 8601 time in UTC (`2024-05-01T14:04:05Z`).",
        lambda value, _: iso_datetime(_moment(value)),
    ),
    _t(
        "unix_micros",
        _TIME,
        "integer",
        "Microseconds since 1970 (GA4 `timestamp_micros`).",
        lambda value, _: (_moment(value) - _EPOCH) // timedelta(microseconds=1),
    ),
    _t(
        "unix_seconds",
        _TIME,
        "integer",
        "Seconds since 1970.",
        lambda value, _: (_moment(value) - _EPOCH) // timedelta(seconds=1),
    ),
    _t("minutes", _AMOUNT, "number", "Seconds as minutes, rounded to 2 decimals (125 -> 2.08).", _minutes),
    _t("milliseconds", _AMOUNT, "integer", "Seconds as whole milliseconds (125 -> 125000).", _milliseconds),
    _t("join", frozenset({"list"}), "text", 'List joined into text: `{join: "; "}`.', _join, "separator"),
    _t(
        "sha256_e164",
        _TEXT,
        "text",
        "Hex SHA-256 of the E.164 number (GA4 / Google Ads user data).",
        _sha256_e164,
    ),
    _t("sha256", _TEXT, "text", "Hex SHA-256 of the trimmed, lower-cased text (emails).", _sha256),
    _t(
        "map",
        _SCALAR,
        None,
        "Vocabulary: `{map: {good_lead: Qualified, default: Open}}`.",
        _map,
        "vocabulary",
    ),
    _t(
        "string",
        frozenset({"text", "integer", "number", "boolean", "datetime"}),
        "text",
        "Any single value as text (`true`, `12.50`, ISO time).",
        _string,
    ),
    _t(
        "number",
        frozenset({"text", "integer", "number"}),
        "number",
        "A number (a decimal such as `outcome.value` becomes a JSON number).",
        _number,
    ),
    _t(
        "boolean",
        frozenset({"text", "integer", "boolean"}),
        "boolean",
        "true/false from booleans, numbers or words (`yes`, `0`).",
        _boolean,
    ),
)

TRANSFORM_SPECS: Final[Mapping[str, Transform]] = {spec.name: spec for spec in _ALL}
#: The fixed list of transform names a mapping may use.
TRANSFORMS: Final[tuple[str, ...]] = tuple(TRANSFORM_SPECS)


@dataclass(frozen=True)
class Step:
    """One transform with its (validated) argument."""

    name: str
    argument: Any = None

    def apply(self, value: Any) -> Any:
        return TRANSFORM_SPECS[self.name].apply(value, self.argument)

    def describe(self) -> str:
        return self.name if self.argument is None else f"{self.name}({self.argument!r})"


def run_steps(steps: tuple[Step, ...], value: Any) -> Any:
    """Apply each step in order; a None result ends the chain with None."""
    for step in steps:
        if value is None:
            return None
        value = step.apply(value)
    return value
