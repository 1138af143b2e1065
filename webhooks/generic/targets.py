"""Where a definition may write, and how a raw value is coerced for each normalized path.

The coercion follows the normalized schema: a datetime field parses times, an int field reads
durations, a phone field becomes E.164, a vocabulary field must take one of its words.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any, Final

from hub.core import events, fields
from hub.core.errors import ParseError
from webhooks.assemble import is_no_value, shown

# Paths with a closed vocabulary: a value map must target one of these words.
VOCABULARIES: Final[Mapping[str, tuple[str, ...]]] = {
    "kind": events.KINDS,
    "call.status": events.STATUSES,
    "call.direction": events.DIRECTIONS,
    "attribution.dni_type": events.DNI_TYPES,
}
PHONE_PATHS: Final = frozenset({"caller.number", "tracking_number", "business_number"})
TOP_LEVEL: Final = ("provider_call_id", "kind", "occurred_at", "tracking_number", "business_number")
SECTIONS: Final = ("account", "call", "caller", "attribution", "outcome")


@dataclasses.dataclass(frozen=True)
class Context:
    """What coercion needs beyond the value: the phone region and the zone of offset-less times."""

    region: str
    zone: tzinfo | None
    time_formats: tuple[str, ...] = ()


def writable_paths() -> list[str]:
    """Every normalized path a definition may fill (plus open-ended `custom.<key>`)."""
    return [path for path in events.known_paths() if path not in ("id", "source", "provider", "warnings")]


def _hint(path: str) -> Any:
    if path in ("provider_call_id", "kind"):
        return str
    if path == "occurred_at":
        return datetime
    section, _, name = path.partition(".")
    event_hints = typing.get_type_hints(events.CallEvent)
    if not name:
        return event_hints[section]
    return typing.get_type_hints(event_hints[section])[name]


def _base(hint: Any) -> Any:
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return args[0] if args and typing.get_origin(hint) is not tuple else hint


def parse_time(value: Any, context: Context) -> datetime | None:
    """A time read with the definition's formats first (`iso`, `epoch_s`, `epoch_ms`, strptime)."""
    text = fields.text(value)
    if text is None:
        return None
    for time_format in context.time_formats:
        parsed = _try_format(text, time_format)
        if parsed is not None:
            if parsed.tzinfo is None:
                return fields.timestamp(parsed, assume=context.zone)
            return fields.timestamp(parsed)
    if context.time_formats:
        raise ParseError(f"time {text!r} matches none of {list(context.time_formats)}")
    return fields.timestamp(value, assume=context.zone)


def _try_format(text: str, time_format: str) -> datetime | None:
    try:
        if time_format == "iso":
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        if time_format in ("epoch_s", "epoch_ms"):
            number = float(text) / (1000 if time_format == "epoch_ms" else 1)
            return fields.timestamp(number) if number > 0 else None
        return datetime.strptime(text, time_format)
    except ValueError:
        return None


def _vocabulary(path: str) -> Callable[[Any, Context], Any]:
    words = VOCABULARIES[path]

    def coerce(value: Any, context: Context) -> str | None:
        text = fields.lower(value)
        return text if text in words else None

    return coerce


def _custom(value: Any, context: Context) -> Any:
    if isinstance(value, str):
        return value.strip() or None
    return value


#: What an unreadable value of each kind is called in the event's warning.
_KIND_WORDS: Final[Mapping[Any, str]] = {
    datetime: "time",
    bool: "yes/no value",
    int: "duration",
    Decimal: "amount",
}
#: Paths whose coercion drops a value on purpose (a caller-ID placeholder is no name): no warning.
_DROPPED_ON_PURPOSE: Final = frozenset({"caller.name"})


def unreadable(path: str, raw: Any) -> str | None:
    """The warning for a value of `path` the provider sent but coercion could not read, None when
    nothing was lost (a blank, "--", a withheld number, a caller-ID placeholder)."""
    if path in _DROPPED_ON_PURPOSE or path.startswith("custom.") or is_no_value(raw):
        return None
    if path in PHONE_PATHS:
        # The value may be a person's number: say what it looked like, not what it was.
        digits = sum(char.isdigit() for char in str(raw))
        return f"not a usable phone number ({digits} digits)" if digits else None
    if path in VOCABULARIES:
        return f"{shown(raw)} is not one of {', '.join(VOCABULARIES[path])}"
    words = {
        "caller.country": "country",
        "attribution.ga_client_id": "GA client id",
        "attribution.ga_session_id": "GA session id",
    }
    what = words.get(path) or _KIND_WORDS.get(_base(_hint(path)), "value")
    return f"unreadable {what} {shown(raw)}"


def coercion(path: str) -> Callable[[Any, Context], Any]:
    """The function turning a raw value into the value of `path`, derived from the schema."""
    if path.startswith("custom."):
        return _custom
    if path in VOCABULARIES:
        return _vocabulary(path)
    if path in PHONE_PATHS:
        return lambda value, context: fields.e164(value, context.region)
    special: dict[str, Callable[[Any, Context], Any]] = {
        "caller.country": lambda value, _: fields.country_code(value),
        "caller.name": lambda value, _: fields.caller_name(value),
        "attribution.ga_client_id": lambda value, _: fields.ga_client_id(value),
        "attribution.ga_session_id": lambda value, _: fields.ga_session_id(value),
        "outcome.currency": lambda value, _: (fields.text(value) or "").upper() or None,
        "outcome.tags": lambda value, _: fields.tags(value),
    }
    if path in special:
        return special[path]
    base = _base(_hint(path))
    if base is datetime:
        return parse_time
    if base is bool:
        return lambda value, _: fields.boolean(value)
    if base is int:
        return lambda value, _: fields.seconds(value)
    if base is Decimal:
        return lambda value, _: fields.decimal(value)
    return lambda value, _: fields.text(value)
