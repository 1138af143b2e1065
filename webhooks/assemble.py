"""Builds a CallEvent from normalized values keyed by path (`caller.number`, `custom.x`, ...).

The providers' shared base: every provider (built-in or YAML-defined) reads its payload into a
flat table of values and hands it here, so the rules every provider wants (blanks dropped, UTMs
and click ids recovered from the landing URL, the receipt time when a provider sends no time)
live in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hub.core import events, fields

_SECTIONS = {
    "account": events.Account,
    "call": events.Call,
    "caller": events.Caller,
    "attribution": events.Attribution,
    "outcome": events.Outcome,
}
_FROM_URL = fields.UTM_KEYS + fields.CLICK_ID_KEYS


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


def assemble(
    provider: str, values: Mapping[str, Any], *, received_at: datetime, country_from_number: bool = True
) -> events.CallEvent:
    """The event for `values`; blanks are dropped, kind defaults to unknown, time to receipt.

    The caller's country, when not sent, is the country of the caller's number unless the
    provider says its numbers do not tell (`country_from_number=False`).
    """
    sections: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
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
    caller = sections["caller"]
    if country_from_number and caller.get("country") is None:
        caller["country"] = fields.phone_country(caller.get("number"))
    return events.CallEvent(
        provider=provider,
        provider_call_id=str(top["provider_call_id"]),
        kind=top.get("kind") or events.KIND_UNKNOWN,
        occurred_at=top.get("occurred_at") or received_at,
        tracking_number=top.get("tracking_number"),
        business_number=top.get("business_number"),
        custom=custom,
        **{name: model(**sections[name]) for name, model in _SECTIONS.items()},
    )


def source_currency(options: Mapping[str, Any], value: Any) -> str | None:
    """The source's configured currency (`options: {currency: USD}`) for a money value it sent.

    Providers send amounts without a currency; the account's currency is known only to the admin.
    """
    currency = fields.text(options.get("currency"))
    return currency.upper() if currency and value is not None else None
