"""Builds a CallEvent from normalized values keyed by path (`caller.number`, `custom.x`, ...).

The providers' shared base: every provider (built-in or YAML-defined) reads its payload into a
flat table of values and hands it here, so the rules every provider wants (blanks dropped, UTMs
and click ids recovered from the landing URL, the receipt time when a provider sends no time,
caller ID that only names the caller's town and state is no name) live in one place, and so do
the warnings an unreadable value leaves on the event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any

from hub.core import events, fields
from hub.core.errors import ParseError

_FROM_URL = fields.UTM_KEYS + fields.CLICK_ID_KEYS


# What providers put where a number is withheld: no number, but nothing unreadable either.
_WITHHELD = frozenset({"anonymous", "restricted", "private", "unavailable", "unknown", "blocked", "withheld"})
# What providers put where they have no value (CallRail's `formatted_value` "--"): nothing lost.
NO_VALUE = frozenset({"-", "--", "n/a", "na", "none", "null"})


def is_no_value(value: Any) -> bool:
    """Blank, or a provider's way of writing "no value" ("--", "N/A")."""
    raw = fields.text(value)
    return raw is None or raw.lower() in NO_VALUE


class Reader:
    """Reads a payload's times, numbers and durations, noting each one present but unreadable.

    Partial data beats no data: an unreadable value becomes None (the event is built without
    it, a time falls back to the receipt time) and a warning on the event says what was lost.
    """

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def note(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def time(self, value: Any, key: str, *, assume: tzinfo | None = UTC) -> datetime | None:
        try:
            return fields.timestamp(value, assume=assume)
        except ParseError as exc:
            self.note(f"{key}: {exc.message}")
            return None

    def number(self, value: Any, key: str, region: str) -> str | None:
        number = fields.e164(value, region)
        raw = fields.text(value)
        withheld = raw is not None and raw.lower().strip("<>() ") in _WITHHELD
        # A client or SIP identity (Twilio's `client:alice`) is a party without a phone number.
        identity = raw is not None and raw.lower().startswith(("client:", "sip:"))
        if number is None and raw is not None and not withheld and not identity:
            # The value may be a person's number: say what it looked like, not what it was.
            digits = sum(char.isdigit() for char in raw)
            self.note(f"{key}: not a usable phone number ({digits} digits)")
        return number

    def seconds(self, value: Any, key: str) -> int | None:
        found = fields.seconds(value)
        if found is None and fields.first(value) is not None:
            self.note(f"{key}: unreadable duration {shown(value)}")
        return found

    def money(self, value: Any, key: str) -> Decimal | None:
        found = fields.decimal(value)
        if found is None and not is_no_value(value):
            self.note(f"{key}: unreadable amount {shown(value)}")
        return found


def shown(value: Any) -> str:
    """A provider's value as a warning quotes it: repr, at most 40 characters."""
    text = str(value)
    return repr(text if len(text) <= 40 else text[:40] + "...")


def lifecycle_time(kind: str, started_at: datetime | None, ended_at: datetime | None) -> datetime | None:
    """When a version happened: a start at the call's start, a completion at its end (or start).

    None for an update or a payload without times: `assemble` then takes the receipt time.
    """
    if kind == events.KIND_STARTED:
        return started_at
    if kind == events.KIND_COMPLETED:
        return ended_at or started_at
    return None


def fill_from_landing_page(attribution: dict[str, Any]) -> None:
    """UTMs and click ids the provider did not send separately, read from the landing URL."""
    params = fields.url_params(attribution.get("landing_page"))
    for key in _FROM_URL:
        if attribution.get(key) is None and params.get(key):
            attribution[key] = params[key]


def fill_from_times(call: dict[str, Any]) -> None:
    """What a finished call's times imply and the provider did not say: its end (start plus
    duration, a duration of 0 too), its duration and talk time, and that it was answered."""
    started, answered, ended = call.get("started_at"), call.get("answered_at"), call.get("ended_at")
    if ended is None:
        ended = call["ended_at"] = fields.shifted(started, call.get("duration_s"))
    if call.get("duration_s") is None and started is not None and ended is not None and ended >= started:
        call["duration_s"] = int((ended - started).total_seconds())
    if call.get("talk_time_s") is None and answered is not None and ended is not None and ended >= answered:
        call["talk_time_s"] = int((ended - answered).total_seconds())
    if call.get("status") is None and answered is not None:
        call["status"] = "answered"


def assemble(
    provider: str,
    values: Mapping[str, Any],
    *,
    received_at: datetime,
    country_from_number: bool = True,
    warnings: Iterable[str] = (),
) -> events.CallEvent:
    """The event for `values`; blanks are dropped, kind defaults to unknown, time to receipt.

    The caller's country, when not sent, is the country of the caller's number unless the
    provider says its numbers do not tell (`country_from_number=False`). A caller name that only
    names the caller's city or state ("LAGUNA BEACH CA") is dropped. A finished call's end
    is its start plus its duration (a duration of 0 too) when the provider sends no end.
    """
    sections: dict[str, dict[str, Any]] = {name: {} for name in events.SECTIONS}
    top: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for path, value in values.items():
        if value is None or value == "" or value == [] or value == {}:
            continue
        head, _, rest = path.partition(".")
        if head == "custom":
            custom[rest] = value
        elif head in sections and rest:
            sections[head][rest] = value
        else:
            top[path] = value
    fill_from_landing_page(sections["attribution"])
    kind = top.get("kind") or events.KIND_UNKNOWN
    if kind != events.KIND_STARTED:
        fill_from_times(sections["call"])
    caller = sections["caller"]
    if caller.get("name") is not None:
        # Caller ID of a mobile often names the place ("LAGUNA BEACH CA"), not the person.
        caller["name"] = fields.caller_name(
            caller["name"], city=_text_or_none(caller.get("city")), region=_text_or_none(caller.get("region"))
        )
    if country_from_number and caller.get("country") is None:
        caller["country"] = fields.phone_country(caller.get("number"))
    return events.CallEvent(
        provider=provider,
        provider_call_id=str(top["provider_call_id"]),
        kind=kind,
        occurred_at=top.get("occurred_at") or received_at,
        tracking_number=top.get("tracking_number"),
        business_number=top.get("business_number"),
        custom=custom,
        warnings=tuple(warnings),
        **{
            name: model(**{k: v for k, v in sections[name].items() if v is not None})
            for name, model in events.SECTIONS.items()
        },
    )


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def source_currency(options: Mapping[str, Any], value: Any) -> str | None:
    """The source's configured currency (`options: {currency: USD}`) for a money value it sent.

    Providers send amounts without a currency; the account's currency is known only to the admin.
    """
    currency = fields.text(options.get("currency"))
    return currency.upper() if currency and value is not None else None
