"""CallRail call webhooks (pre-call, routing complete, post-call, call modified, outbound).

CallRail signs the raw body: `Signature` = base64(HMAC-SHA1(company signing key, body)). The
body's `timestamp` is the call's start, not the delivery time, so there is no replay window to
check. The body is the API v3 call object plus legacy keys (`callernum`, `landingpage`...), with
numbers and booleans often sent as strings and `""` for nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from hub.core import events
from hub.core import fields as f
from hub.core.errors import NotACall, ParseError
from hub.core.events import KIND_COMPLETED, KIND_STARTED, KIND_UPDATED
from webhooks.assemble import Reader, assemble, lifecycle_time
from webhooks.auth import AuthRecipe, HmacAuth, RecipeAuth
from webhooks.base import InboundRequest, Provider

SIGNATURE_HEADER = "Signature"

# `call_type` vocabulary -> normalized status.
_STATUS_BY_CALL_TYPE = {
    "answered": "answered",
    "missed": "missed",
    "abandoned": "missed",
    "voicemail": "voicemail",
    "voicemail_transcription": "voicemail",
    "in_progress": "in_progress",
}
# Triggers CallRail cannot tell apart by body alone; the webhook URL says which one it is
# (`?event=pre_call`), since each trigger has its own URL at CallRail.
_STARTED_EVENTS = {"pre_call", "call_routing_complete", "routing_complete"}
_UPDATED_EVENTS = {"call_modified", "outbound_call_modified"}
# Only "this call" verdicts: `previously_marked_good_lead` speaks of an earlier call.
_QUALIFIED_BY_LEAD_STATUS = {"good_lead": True, "not_a_lead": False}


class CallRailProvider(RecipeAuth, Provider):
    slug: ClassVar[str] = "callrail"
    name: ClassVar[str] = "CallRail"
    recipe: AuthRecipe = HmacAuth(header=SIGNATURE_HEADER, algorithm="sha1", encoding="base64")
    auth: ClassVar[str] = "HMAC-SHA1 of the raw body, base64, in the Signature header (company signing key)"
    signs_body = True
    url_params = frozenset({"event"})

    def parse(self, request: InboundRequest) -> list[events.CallEvent]:
        data = request.json_object()
        call_id = f.text(f.first(data.get("resource_id"), data.get("id")))
        if call_id is None:
            raise ParseError("CallRail payload has neither resource_id nor id")
        _refuse_non_calls(call_id, data)
        kind = self._kind(request, data)
        region = self.settings.default_region
        read = Reader()
        call = self._call(data, kind, read)
        values: dict[str, Any] = {
            "provider_call_id": call_id,
            "kind": kind,
            "occurred_at": lifecycle_time(kind, call["call.started_at"], call["call.ended_at"]),
            "account.id": f.text(f.first(data.get("company_resource_id"), data.get("company_id"))),
            "account.name": f.text(data.get("company_name")),
            "tracking_number": read.number(
                f.first(data.get("tracking_phone_number"), data.get("trackingnum")),
                "tracking_phone_number",
                region,
            ),
            "business_number": read.number(
                f.first(data.get("business_phone_number"), data.get("destinationnum")),
                "business_phone_number",
                region,
            ),
            **call,
            **self._caller(data, read),
            **self._attribution(data),
            **self._outcome(data, read),
            **self._custom(data),
        }
        return [
            assemble(
                self.slug,
                values,
                received_at=request.received_at,
                country_from_number=False,
                warnings=read.warnings,
            )
        ]

    def _kind(self, request: InboundRequest, data: Mapping[str, Any]) -> str:
        event = (f.lower(request.query.get("event", [""])[0]) or "").replace("-", "_")
        if event in _UPDATED_EVENTS or f.first(data.get("changes")) is not None:
            return KIND_UPDATED
        if event in _STARTED_EVENTS or f.lower(data.get("call_type")) == "in_progress":
            return KIND_STARTED
        return KIND_COMPLETED

    def _call(self, data: Mapping[str, Any], kind: str, read: Reader) -> dict[str, Any]:
        zone = f.zone(f.text(data.get("company_time_zone")))
        started_at = f.first(
            read.time(f.first(data.get("start_time"), data.get("created_at")), "start_time", assume=zone),
            # The legacy `datetime` is UTC without a zone marker.
            read.time(data.get("datetime"), "datetime"),
        )
        duration = read.seconds(data.get("duration"), "duration")
        ended_at = None
        if kind != KIND_STARTED:
            # A duration of 0 (a call that never connected) still ends the call at its start.
            ended_at = f.shifted(started_at, duration)
        direction = f.lower(data.get("direction"))
        if f.lower(data.get("type")) == "outboundpostcall":
            direction = "outbound"
        return {
            "call.started_at": started_at,
            "call.ended_at": ended_at,
            "call.duration_s": duration,
            "call.direction": direction if direction in ("inbound", "outbound") else None,
            "call.status": self._status(data, kind),
            "call.first_call": f.boolean(data.get("first_call")),
            "call.spam": f.boolean(data.get("spam")),
            "call.recording_url": f.text(f.first(data.get("recording"), data.get("recording_redirect"))),
            "call.transcript": f.text(f.first(data.get("transcription"), _joined_transcript(data))),
        }

    def _status(self, data: Mapping[str, Any], kind: str) -> str | None:
        if kind == KIND_STARTED:
            # Pre-call bodies say `missed` (nothing answered yet): the call is ringing.
            return "in_progress" if f.lower(data.get("call_type")) == "in_progress" else "ringing"
        if f.boolean(data.get("voicemail")):
            return "voicemail"
        by_type = _STATUS_BY_CALL_TYPE.get(f.lower(data.get("call_type")) or "")
        if by_type is not None:
            return by_type
        # Outbound calls have call_type "outbound"; `answered` (often the string "true") decides.
        answered = f.boolean(data.get("answered"))
        return None if answered is None else "answered" if answered else "missed"

    def _caller(self, data: Mapping[str, Any], read: Reader) -> dict[str, Any]:
        region = self.settings.default_region
        city = f.text(f.first(data.get("customer_city"), data.get("callercity")))
        state = f.text(f.first(data.get("customer_state"), data.get("callerstate")))
        return {
            "caller.number": read.number(
                f.first(data.get("customer_phone_number"), data.get("callernum")),
                "customer_phone_number",
                region,
            ),
            # A caller ID naming the caller's town and state is dropped when assembled.
            "caller.name": f.caller_name(
                f.first(
                    data.get("formatted_customer_name"), data.get("customer_name"), data.get("callername")
                )
            ),
            "caller.email": f.text(data.get("customer_email")),
            "caller.city": city,
            "caller.region": state,
            "caller.country": f.country_code(
                f.first(data.get("customer_country"), data.get("callercountry"))
            ),
            "caller.postal_code": f.text(data.get("zip_code")),
        }

    def _attribution(self, data: Mapping[str, Any]) -> dict[str, Any]:
        landing_page = f.text(f.first(data.get("landing_page_url"), data.get("landingpage")))
        params = f.marketing_params(data, f.url_params(landing_page), f.utmz(data.get("utmz")))
        session = f.text(data.get("session_uuid"))
        return {
            # Session trackers swap a number per visitor; every other CallRail tracker is a
            # source tracker. Legacy bodies without the key do not say.
            "attribution.dni_type": "session" if session else "source" if "session_uuid" in data else None,
            "attribution.source": f.text(f.first(data.get("source"), data.get("callsource"))),
            "attribution.medium": f.text(
                f.first(data.get("medium"), data.get("referrermedium"), params.get("utm_medium"))
            ),
            "attribution.campaign": f.text(f.first(data.get("campaign"), params.get("utm_campaign"))),
            "attribution.keyword": f.text(f.first(data.get("keywords"), params.get("utm_term"))),
            "attribution.landing_page": landing_page,
            "attribution.referrer": f.text(f.first(data.get("referring_url"), data.get("referrer"))),
            "attribution.ga_client_id": f.ga_client_id(data.get("ga")),
            **{f"attribution.{key}": value for key, value in params.items()},
        }

    def _outcome(self, data: Mapping[str, Any], read: Reader) -> dict[str, Any]:
        lead_status = f.lower(data.get("lead_status"))
        return {
            "outcome.qualified": _QUALIFIED_BY_LEAD_STATUS.get(lead_status or ""),
            "outcome.lead_status": lead_status,
            # `formatted_value` is "--" when there is none.
            "outcome.value": read.money(f.first(data.get("value"), data.get("formatted_value")), "value"),
            # Legacy `tag` is a comma string of the same tags.
            "outcome.tags": f.first(f.tags(data.get("tags")), f.tags(data.get("tag"))),
            "outcome.notes": f.text(data.get("note")),
            "outcome.agent": f.text(data.get("agent_email")),
        }

    def _custom(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """CallRail facts without a normalized home, kept for mappings (`custom.session_uuid`)."""
        custom: dict[str, Any] = {key: f.text(data.get(key)) for key in _CUSTOM_TEXT_KEYS}
        for key in ("changes", "custom", "keypad_entries"):
            custom[key] = f.first(data.get(key))
        integrations = data.get("integration_data")
        if isinstance(integrations, list):
            custom["integration_data"] = f.first(
                [item for item in integrations if isinstance(item, Mapping) and f.first(item.get("data"))]
            )
        return {f"custom.{key}": value for key, value in custom.items()}


# CallRail resource ids carry their type: CAL... is a call, FRM... a form submission, and the
# message and chat triggers have their own prefixes.
_RESOURCE_ID = re.compile(r"^([A-Z]{3})[0-9a-z]{32}$")
_NOT_CALLS = {"FRM": "form submission", "SCI": "text message", "SMS": "text message", "CHT": "chat"}


def _refuse_non_calls(resource_id: str, data: Mapping[str, Any]) -> None:
    """Form submissions (and other non-call triggers) share the webhook URL: record them as ignored."""
    match = _RESOURCE_ID.match(resource_id)
    prefix = match.group(1) if match else None
    if prefix is not None and prefix != "CAL":
        what = _NOT_CALLS.get(prefix, f"{prefix} resource")
        raise NotACall(f"CallRail {what} {resource_id} is not a call")
    if prefix is None and "duration" not in data:
        # Legacy numeric ids do not say their type; the body does.
        if "form_data" in data or "submitted_at" in data:
            raise NotACall(f"CallRail form submission {resource_id} is not a call")
        if "message_type" in data or "content" in data:
            raise NotACall(f"CallRail text message {resource_id} is not a call")


_CUSTOM_TEXT_KEYS = (
    "person_resource_id",
    "tracker_resource_id",
    "session_uuid",
    "source_name",
    "device_type",
    "lead_score",
    "call_summary",
    "timeline_url",
    "recording_player",
    "recording_duration",
    "last_requested_url",
)


def _joined_transcript(data: Mapping[str, Any]) -> str | None:
    turns = data.get("conversational_transcript")
    if not isinstance(turns, list):
        return None
    lines = [
        f"{f.text(turn.get('speaker')) or '?'}: {f.text(turn.get('phrase'))}"
        for turn in turns
        if isinstance(turn, Mapping) and f.text(turn.get("phrase"))
    ]
    return "\n".join(lines) or None
