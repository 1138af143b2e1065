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
from webhooks.assemble import assemble, source_currency
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

        def get(*names: str) -> Any:
            return fields.first(*(params.get(name) for name in names))

        call_id = fields.text(get("call_id", "inbound_call_id", "inboundCallId"))
        if call_id is None:
            raise ParseError("no call_id parameter: the pixel template must send [Call:InboundCallId]")
        event = fields.lower(get("event")) or ""
        kind, status = _EVENTS.get(event, (events.KIND_UNKNOWN, None))
        duration = fields.seconds(get("duration", "duration_seconds", "call_length"))
        target = fields.text(get("target", "target_name"))
        if event == "finalized":
            # Finalized fires however the call ended: it connected only if a target took it.
            status = "answered" if target or (duration or 0) > 0 else "missed"
        revenue = fields.decimal(get("revenue", "conversion_amount"))
        # Revenue is only booked on a converted call, so a completed pixel with revenue says it too.
        converted = event == "converted" or bool(revenue)
        region = self.settings.default_region
        values = {
            "provider_call_id": call_id,
            "kind": kind,
            "call.status": status,
            # Ringba routes inbound calls to buyers.
            "call.direction": "inbound",
            "call.answered_at": fields.timestamp(get("connected_ts", "connected_at")),
            "call.duration_s": duration,
            "call.recording_url": fields.text(get("recording", "recording_url")),
            # Ringba's duplicate flag (same caller within the campaign's window) is its repeat-call notion.
            "call.first_call": _negated(fields.boolean(get("is_duplicate", "duplicate"))),
            "caller.number": fields.e164(get("caller_id", "caller_id_noplus", "caller_number"), region),
            "caller.region": fields.text(get("caller_state", "state")),
            "caller.postal_code": fields.text(get("zip", "caller_zip")),
            "tracking_number": fields.e164(get("tracking_number", "dialed_number"), region),
            "attribution.source": fields.text(get("publisher")),
            "attribution.campaign": fields.text(get("campaign")),
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
        }
        for key in fields.CLICK_ID_KEYS + fields.UTM_KEYS:
            values[f"attribution.{key}"] = fields.text(get(key))
        return [assemble(self.slug, values, received_at=request.received_at)]


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
