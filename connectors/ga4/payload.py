"""Rendered records -> Measurement Protocol events, and events -> request bodies.

A GA4 mapping's fields are flat names; this module gives them their place in the MP body:
`client_id`, `user_id`, `non_personalized_ads` and the `user_data.*`, `consent.*`,
`user_properties.*` groups are request-level; `timestamp_micros` and `params.*` belong to the
event. Keeping timestamps per event lets events of different calls by one visitor share a request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from connectors.ga4 import limits
from hub.core.records import RenderedRecord

REQUEST_FIELDS: Final = ("client_id", "user_id", "non_personalized_ads")
REQUEST_GROUPS: Final = ("user_data", "consent", "user_properties")
EVENT_FIELDS: Final = ("timestamp_micros",)
EVENT_GROUPS: Final = ("params",)


class MappingFault(ValueError):
    """A record that cannot become a GA4 event whatever the data: a mapping to fix."""


@dataclass(frozen=True)
class EventDraft:
    """One GA4 event for one call, with the request-level fields it must travel with."""

    name: str
    envelope: dict[str, Any]
    event: dict[str, Any]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventRef:
    """Which delivery and call an event of a packed request came from."""

    delivery_id: str
    call_key: str
    name: str


@dataclass
class PackedRequest:
    """One MP request body and, per event index, where each event came from."""

    body: dict[str, Any]
    refs: list[EventRef] = field(default_factory=list)
    #: Set once the request was POSTed (whatever came back).
    attempted: bool = False


def draft_event(record: RenderedRecord) -> EventDraft:
    """Nest a record's flat fields into an MP event; raises MappingFault for unknown names."""
    envelope: dict[str, Any] = {}
    event: dict[str, Any] = {"name": record.target}
    params: dict[str, Any] = {}
    notes: list[str] = []
    for name, value in record.fields.items():
        if value is None:
            continue
        group, _, key = name.partition(".")
        if not key and name in REQUEST_FIELDS:
            envelope[name] = value
        elif not key and name in EVENT_FIELDS:
            event[name] = value
        elif group == "params" and key:
            params[key] = _param_value(key, value, notes)
        elif group == "user_data" and key:
            envelope.setdefault("user_data", {})[key] = (
                list(value) if isinstance(value, (list, tuple)) else [value]
            )
        elif group == "consent" and key:
            envelope.setdefault("consent", {})[key] = value
        elif group == "user_properties" and key:
            envelope.setdefault("user_properties", {})[key] = {"value": _param_value(key, value, notes)}
        else:
            allowed = ", ".join(
                [*REQUEST_FIELDS, *EVENT_FIELDS, *(f"{g}.<name>" for g in REQUEST_GROUPS + EVENT_GROUPS)]
            )
            raise MappingFault(
                f"{record.mapping}: field {name!r} has no place in a GA4 event (use {allowed})"
            )
    event["params"] = params
    return EventDraft(record.target, envelope, event, tuple(notes))


def _param_value(name: str, value: Any, notes: list[str]) -> Any:
    # GA4 params hold strings or numbers only; anything else is converted the one obvious way.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple, dict)) and name != "items":
        raise MappingFault(
            f"param {name!r} is a {type(value).__name__}; GA4 params hold one string or number"
        )
    if isinstance(value, str) and len(value) > limits.MAX_PARAM_VALUE_CHARS:
        # GA drops a parameter whose value is too long; keeping its first 100 characters loses less.
        notes.append(f"param {name} cut to {limits.MAX_PARAM_VALUE_CHARS} characters")
        return value[: limits.MAX_PARAM_VALUE_CHARS]
    return value


def envelope_key(envelope: Mapping[str, Any]) -> str:
    return json.dumps(envelope, sort_keys=True, default=str)


def pack_requests(drafts: Sequence[tuple[EventRef, EventDraft]]) -> list[PackedRequest]:
    """Group events sharing request-level fields into bodies of at most 25 events and 130 kB."""
    open_requests: dict[str, PackedRequest] = {}
    packed: list[PackedRequest] = []
    for ref, draft in drafts:
        key = envelope_key(draft.envelope)
        current = open_requests.get(key)
        if current is not None:
            candidate = {**current.body, "events": [*current.body["events"], draft.event]}
            fits = (
                len(candidate["events"]) <= limits.MAX_EVENTS_PER_REQUEST
                and limits.body_size(candidate) < limits.MAX_BODY_BYTES
            )
            if fits:
                current.body = candidate
                current.refs.append(ref)
                continue
        current = PackedRequest({**draft.envelope, "events": [draft.event]}, [ref])
        open_requests[key] = current
        packed.append(current)
    return packed
