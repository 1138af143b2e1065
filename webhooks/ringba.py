"""Ringba pixels: URL templates Ringba fills with call tokens and fires on call events.

Ringba does not sign pixels; it can add custom headers. The source's secret goes in an
`X-Hub-Token` header, or in the URL as `token=` when headers are not an option. Parameter
names are ours (docs/providers/ringba.md gives the template to paste); a few aliases are read
so hand-written templates keep working.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from hub.core import events, fields
from hub.core.errors import ParseError
from webhooks.assemble import Reader, assemble, lifecycle_time, source_currency
from webhooks.auth import AuthRecipe, RecipeAuth, TokenAuth
from webhooks.base import InboundRequest, Provider

# Pixel "Fire Pixel On" events -> (kind, status); the status of a finalized call depends on
# whether a target picked up, so it is decided from the call's facts.
_EVENTS: Mapping[str, tuple[str, str | None]] = {
    "incoming": (events.KIND_STARTED, "ringing"),
    "connected": (events.KIND_STARTED, "in_progress"),
    "answered": (events.KIND_STARTED, "in_progress"),
    "completed": (events.KIND_COMPLETED, "answered"),
    "finalized": (events.KIND_COMPLETED, None),
    "error": (events.KIND_COMPLETED, "failed"),
    "converted": (events.KIND_UPDATED, "answered"),
    "payout": (events.KIND_UPDATED, None),
    "recording": (events.KIND_UPDATED, None),
}


class RingbaProvider(RecipeAuth, Provider):
    slug: ClassVar[str] = "ringba"
    name: ClassVar[str] = "Ringba"
    recipe: AuthRecipe = TokenAuth(header="X-Hub-Token", query="token")
    auth: ClassVar[str] = recipe.describe()
    uses_token = True

    def parse(self, request: InboundRequest) -> list[events.CallEvent]:
        params = _params(request)
        read = Reader()
        if any(key in params for key in _CALL_LOG_KEYS):
            values = self._call_log_row(params, read)
        else:
            values = self._pixel(params, read)
        return [assemble(self.slug, values, received_at=request.received_at, warnings=read.warnings)]

    def _pixel(self, params: Mapping[str, Any], read: Reader) -> dict[str, Any]:
        def get(*names: str) -> Any:
            return fields.first(*(params.get(name) for name in names))

        call_id = fields.text(get("call_id", "inbound_call_id", "inboundCallId"))
        if call_id is None:
            raise ParseError("no call_id parameter: the pixel template must send [Call:InboundCallId]")
        event = fields.lower(get("event")) or ""
        duration = read.seconds(get("duration", "duration_seconds", "call_length"), "duration")
        recording = fields.text(get("recording", "recording_url"))
        if event in _EVENTS:
            kind, status = _EVENTS[event]
        elif duration is not None or recording is not None:
            # A template without `event=`: a length or a recording exists only once the call ended.
            kind, status = events.KIND_COMPLETED, None
        else:
            kind, status = events.KIND_UNKNOWN, None
        target = fields.text(get("target", "target_name"))
        if status is None and kind == events.KIND_COMPLETED:
            # Finalized fires however the call ended: it connected only if a target took it.
            status = "answered" if target or (duration or 0) > 0 else "missed"
        revenue = read.money(get("revenue", "conversion_amount"), "revenue")
        # Revenue is only booked on a converted call, so a completed pixel with revenue says it too.
        converted = event == "converted" or bool(revenue)
        region = self.settings.default_region
        values = {
            "provider_call_id": call_id,
            "kind": kind,
            "call.status": status,
            # Ringba routes inbound calls to buyers.
            "call.direction": "inbound",
            "call.answered_at": read.time(
                get("connected_ts", "connected_at", "call_timestamp"), "connected_ts"
            ),
            "call.duration_s": duration,
            "call.recording_url": recording,
            # Ringba's duplicate flag (same caller within the campaign's window) is its repeat-call notion.
            "call.first_call": _negated(fields.boolean(get("is_duplicate", "duplicate"))),
            "caller.number": read.number(
                get("caller_id", "caller_id_noplus", "caller_number"), "caller_id", region
            ),
            "caller.region": fields.text(get("caller_state", "state")),
            "caller.postal_code": fields.text(get("zip", "caller_zip")),
            "tracking_number": read.number(
                get("tracking_number", "dialed_number"), "tracking_number", region
            ),
            "attribution.source": fields.text(get("publisher", "publisher_name")),
            "attribution.campaign": fields.text(get("campaign", "campaign_name")),
            "attribution.landing_page": fields.text(get("landing_page")),
            "outcome.qualified": True if converted else None,
            "outcome.lead_status": "converted" if converted else None,
            "outcome.value": revenue,
            "outcome.currency": source_currency(self.settings.options, revenue),
            "outcome.agent": target,
            "custom.event": event or None,
            "custom.target_id": fields.text(get("target_id")),
            "custom.publisher_id": fields.text(get("publisher_id")),
            "custom.payout": fields.text(get("payout")),
            "custom.buyer": fields.text(get("buyer", "buyer_name")),
        }
        for key in fields.CLICK_ID_KEYS + fields.UTM_KEYS:
            values[f"attribution.{key}"] = fields.text(get(key))
        return values

    def _call_log_row(self, row: Mapping[str, Any], read: Reader) -> dict[str, Any]:
        """A row of Ringba's call log (its API and exports), sent on by a workflow or a pixel body."""
        call_id = fields.text(row.get("inboundCallId"))
        if call_id is None:
            raise ParseError("Ringba call-log row without inboundCallId")
        region = self.settings.default_region
        started_at = read.time(row.get("callDt"), "callDt")
        length = read.seconds(row.get("callLengthInSeconds"), "callLengthInSeconds")
        connected = fields.boolean(row.get("hasConnected"))
        live = fields.boolean(row.get("isLive"))
        kind = events.KIND_STARTED if live else events.KIND_COMPLETED
        to_connect = read.seconds(row.get("timeToConnectInSeconds"), "timeToConnectInSeconds")
        ended_at = None if live else fields.shifted(started_at, length)
        values = {
            "provider_call_id": call_id,
            "kind": kind,
            "occurred_at": lifecycle_time(kind, started_at, ended_at),
            "call.status": _row_status(connected=bool(connected), live=bool(live)),
            "call.direction": "inbound",
            "call.started_at": started_at,
            "call.answered_at": fields.shifted(started_at, to_connect) if connected else None,
            "call.ended_at": ended_at,
            "call.duration_s": None if live else length,
            "call.talk_time_s": read.seconds(
                row.get("connectedCallLengthInSeconds"), "connectedCallLengthInSeconds"
            ),
            "call.first_call": _negated(fields.boolean(row.get("isDuplicate"))),
            "call.recording_url": fields.text(row.get("recordingUrl")),
            "caller.number": read.number(row.get("inboundPhoneNumber"), "inboundPhoneNumber", region),
            "tracking_number": read.number(row.get("number"), "number", region),
            "attribution.source": fields.text(row.get("publisherName")),
            "attribution.campaign": fields.text(row.get("campaignName")),
            "outcome.agent": fields.text(row.get("targetName")),
        }
        for key in ("campaignId", "numberPoolId", "numberPoolName", "publisherId", "targetId"):
            values[f"custom.{key}"] = fields.text(row.get(key))
        return values


# Keys of a call-log row (Ringba's API and exports), which a pixel with our template never sends.
_CALL_LOG_KEYS = ("inboundPhoneNumber", "callLengthInSeconds", "callDt", "hasConnected")


def _row_status(*, connected: bool, live: bool) -> str | None:
    """A call-log row's status: a live call not yet connected has none."""
    if connected:
        return "in_progress" if live else "answered"
    return None if live else "missed"


def _negated(value: bool | None) -> bool | None:
    return None if value is None else not value


def _params(request: InboundRequest) -> dict[str, Any]:
    """URL parameters, overlaid with a JSON or form body when the pixel POSTs one."""
    params: dict[str, Any] = {key: values[0] for key, values in request.query.items() if values}
    params.pop("token", None)
    if request.body:
        text = request.body.lstrip()
        body = request.json_object() if text.startswith(b"{") else request.params()
        params.update(body)
    return params
