"""Retreaver campaign webhooks: URL pings with replacement tokens, or a JSON call object.

Retreaver signs nothing; a standard webhook is a URL, so the source's secret rides in it as
`token=`. Pings should carry `event=` (start, selected, answered, ended, converted); without
it the kind is read from what the delivery holds (end time, buyer number).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from hub.core import events, fields
from hub.core.errors import ParseError
from webhooks.assemble import Reader, assemble, source_currency
from webhooks.auth import AuthRecipe, RecipeAuth, TokenAuth
from webhooks.base import InboundRequest, Provider

_EVENTS: Mapping[str, tuple[str, str | None]] = {
    "start": (events.KIND_STARTED, "ringing"),
    "started": (events.KIND_STARTED, "ringing"),
    "selected": (events.KIND_STARTED, "ringing"),
    "answered": (events.KIND_STARTED, "in_progress"),
    "end": (events.KIND_COMPLETED, None),
    "ended": (events.KIND_COMPLETED, None),
    "finished": (events.KIND_COMPLETED, None),
    "completed": (events.KIND_COMPLETED, None),
    "converted": (events.KIND_UPDATED, None),
    "postback": (events.KIND_UPDATED, None),
    "updated": (events.KIND_UPDATED, None),
}
# Retreaver's call `status` words (Twilio-like) for calls that did not connect to a buyer.
_UNCONNECTED = {"busy": "busy", "failed": "failed", "no-answer": "missed", "canceled": "missed"}
_CUSTOM_KEYS = (
    "cid",
    "afid",
    "sid",
    "company_id",
    "system_buyer_id",
    "caller_number_sent",
    "hung_up_by",
    "ivr_duration",
    "hold_duration",
    "keys_pressed",
    "payout",
    "payable",
    "receivable",
    "duplicate",
    "repeat",
    "status",
    "forwarded_time",
    "tags",
)
# `call_key` lets its holder post data to the call through Retreaver's API: never stored.
_NEVER_KEPT = {"token", "call_key"}


class RetreaverProvider(RecipeAuth, Provider):
    slug: ClassVar[str] = "retreaver"
    name: ClassVar[str] = "Retreaver"
    recipe: AuthRecipe = TokenAuth(query="token")
    auth: ClassVar[str] = recipe.describe()
    uses_token = True

    def credential_carriers(self) -> tuple[frozenset[str], frozenset[str]]:
        # `call_key` lets whoever holds it post data to the call through Retreaver's API.
        headers, params = super().credential_carriers()
        return headers, params | {"call_key"}

    def parse(self, request: InboundRequest) -> list[events.CallEvent]:
        call = _call_object(request)
        tags: Mapping[str, Any] = call["tags"] if isinstance(call.get("tags"), Mapping) else {}

        def get(*names: str) -> Any:
            return fields.first(*(call.get(name) for name in names), *(_tag(tags, name) for name in names))

        call_id = fields.text(get("uuid", "call_uuid"))
        if call_id is None:
            raise ParseError("no call uuid: the webhook must send [call_uuid]")
        kind, status = self._progress(call)
        read = Reader()
        revenue = read.money(get("revenue"), "revenue")
        region = self.settings.default_region
        visitor_url = fields.text(get("visitor_url"))
        ended_at = read.time(get("end_time"), "end_time")
        values = {
            "provider_call_id": call_id,
            "kind": kind,
            "occurred_at": ended_at if kind == events.KIND_COMPLETED else None,
            "account.id": fields.text(get("company_id")),
            "call.status": status,
            "call.direction": "inbound",
            "call.started_at": read.time(get("start_time"), "start_time"),
            # Forwarded to the buyer's number, i.e. the moment the buyer picked up.
            "call.answered_at": read.time(get("forwarded_time"), "forwarded_time")
            if status == "answered"
            else None,
            "call.ended_at": ended_at,
            "call.duration_s": read.seconds(get("total_duration"), "total_duration"),
            "call.talk_time_s": read.seconds(get("dialed_call_duration"), "dialed_call_duration"),
            "call.first_call": _negated(fields.boolean(get("repeat"))),
            "call.recording_url": fields.text(get("recording_url")),
            "caller.number": read.number(get("caller"), "caller", region),
            "caller.city": fields.text(get("caller_city")),
            "caller.region": fields.text(get("caller_state")),
            "caller.country": fields.country_code(get("caller_country")),
            "caller.postal_code": fields.text(get("caller_zip")),
            "tracking_number": read.number(get("number"), "number", region),
            "business_number": read.number(get("dialed_number"), "dialed_number", region),
            "attribution.dni_type": "session" if visitor_url else None,
            "attribution.source": fields.text(get("affiliate_name")),
            "attribution.campaign": fields.text(get("campaign_name")),
            "attribution.landing_page": visitor_url,
            "outcome.qualified": fields.boolean(get("converted")),
            "outcome.lead_status": "converted" if fields.boolean(get("converted")) else None,
            "outcome.value": revenue,
            "outcome.currency": source_currency(self.settings.options, revenue),
            "outcome.agent": fields.text(get("target_name")),
        }
        for key in fields.CLICK_ID_KEYS + fields.UTM_KEYS:
            values[f"attribution.{key}"] = fields.text(get(key))
        for key in _CUSTOM_KEYS:
            value = call.get(key)
            values[f"custom.{key}"] = value.strip() or None if isinstance(value, str) else value
        return [assemble(self.slug, values, received_at=request.received_at, warnings=read.warnings)]

    def _progress(self, call: Mapping[str, Any]) -> tuple[str, str | None]:
        event = fields.lower(call.get("event")) or ""
        if event in _EVENTS:
            kind, status = _EVENTS[event]
        elif fields.first(call.get("end_time"), call.get("total_duration")) is not None:
            kind, status = events.KIND_COMPLETED, None
        elif fields.first(call.get("dialed_number"), call.get("system_buyer_id")) is not None:
            # A ping naming the buyer's number comes from the buyer stage: the buyer picked up.
            kind, status = events.KIND_STARTED, "in_progress"
        else:
            kind, status = events.KIND_STARTED, "ringing"
        if status is None and kind != events.KIND_STARTED:
            status = _ended_status(call)
        return kind, status


def _ended_status(call: Mapping[str, Any]) -> str | None:
    connected = fields.boolean(call.get("connected"))
    if connected is None and fields.lower(call.get("status")) == "finished":
        # Version-1 call objects have no `connected`: time talked with the buyer says it.
        talked = fields.seconds(call.get("dialed_call_duration"))
        connected = None if talked is None else talked > 0
    if connected:
        return "answered"
    word = fields.lower(call.get("status"))
    if word in _UNCONNECTED:
        return _UNCONNECTED[word]
    return "missed" if connected is False else None


def _tag(tags: Mapping[str, Any], name: str) -> str | None:
    """One value of a tag: Retreaver joins the values a key collected with commas."""
    values = fields.tags(tags.get(name))
    return values[0] if values else None


def _negated(value: bool | None) -> bool | None:
    return None if value is None else not value


def _call_object(request: InboundRequest) -> dict[str, Any]:
    """The call's fields: URL parameters, overlaid with a JSON body (`{"call": {...}}` or flat)."""
    call: dict[str, Any] = {key: values[0] for key, values in request.query.items() if values}
    if request.body:
        if request.body.lstrip().startswith(b"{"):
            body = request.json_object()
            inner = body.get("call")
            call.update(inner if isinstance(inner, Mapping) else body)
        else:
            call.update(request.params())
    for key in _NEVER_KEPT:
        call.pop(key, None)
    return call
