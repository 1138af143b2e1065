"""CallRail call webhooks (pre-call, routing complete, post-call, call modified, outbound).

CallRail signs the raw body: `Signature` = base64(HMAC-SHA1(company signing key, body)). The
body's `timestamp` is the call's start, not the delivery time, so there is no replay window to
check. The body is the API v3 call object plus legacy keys (`callernum`, `landingpage`...), with
numbers and booleans often sent as strings and `""` for nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from hub.core import fields as f
from hub.core.errors import ParseError, SignatureError
from hub.core.events import (
    KIND_COMPLETED,
    KIND_STARTED,
    KIND_UPDATED,
    Account,
    Attribution,
    Call,
    Caller,
    CallEvent,
    Outcome,
)
from webhooks.base import (
    InboundRequest,
    Provider,
    b64,
    hmac_digest,
    lifecycle_time,
    matches_any,
    require_header,
)

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


def _signature(secret: str, body: bytes) -> str:
    return b64(hmac_digest("sha1", secret, body))


class CallRailProvider(Provider):
    slug = "callrail"
    name = "CallRail"
    auth = "HMAC-SHA1 of the raw body, base64, in the Signature header (company signing key)"
    signs_body = True
    url_params = frozenset({"event"})

    def verify(self, request: InboundRequest, secrets: Sequence[str], now: datetime) -> None:
        provided = require_header(request, SIGNATURE_HEADER)
        if not matches_any(provided, lambda secret: _signature(secret, request.body), secrets):
            raise SignatureError("Signature does not match the body for any configured signing key")

    def sign(self, request: InboundRequest, secret: str, now: datetime) -> InboundRequest:
        headers = request.headers.with_values(Signature=_signature(secret, request.body))
        return InboundRequest(request.method, request.url, headers, request.body, request.received_at)

    def parse(self, request: InboundRequest) -> list[CallEvent]:
        data = request.json_object()
        call_id = f.text(f.first(data.get("resource_id"), data.get("id")))
        if call_id is None:
            raise ParseError("CallRail payload has neither resource_id nor id")
        kind = self._kind(request, data)
        call = self._call(data, kind)
        region = self.settings.default_region
        occurred_at = lifecycle_time(kind, call, request.received_at)
        return [
            CallEvent(
                provider=self.slug,
                provider_call_id=call_id,
                kind=kind,
                occurred_at=occurred_at,
                account=Account(
                    id=f.text(f.first(data.get("company_resource_id"), data.get("company_id"))),
                    name=f.text(data.get("company_name")),
                ),
                call=call,
                caller=self._caller(data),
                tracking_number=f.e164(
                    f.first(data.get("tracking_phone_number"), data.get("trackingnum")), region
                ),
                business_number=f.e164(
                    f.first(data.get("business_phone_number"), data.get("destinationnum")), region
                ),
                attribution=self._attribution(data),
                outcome=self._outcome(data),
                custom=self._custom(data),
            )
        ]

    def _kind(self, request: InboundRequest, data: Mapping[str, Any]) -> str:
        event = (f.lower(request.query.get("event", [""])[0]) or "").replace("-", "_")
        if event in _UPDATED_EVENTS or f.first(data.get("changes")) is not None:
            return KIND_UPDATED
        if event in _STARTED_EVENTS or f.lower(data.get("call_type")) == "in_progress":
            return KIND_STARTED
        return KIND_COMPLETED

    def _call(self, data: Mapping[str, Any], kind: str) -> Call:
        zone = f.zone(f.text(data.get("company_time_zone")))
        started_at = f.first(
            f.timestamp(f.first(data.get("start_time"), data.get("created_at")), assume=zone),
            # The legacy `datetime` is UTC without a zone marker.
            f.timestamp(data.get("datetime")),
        )
        duration = f.seconds(data.get("duration"))
        ended_at = None
        if kind != KIND_STARTED and started_at is not None and duration:
            ended_at = f.shifted(started_at, duration)
        direction = f.lower(data.get("direction"))
        if f.lower(data.get("type")) == "outboundpostcall":
            direction = "outbound"
        return Call(
            started_at=started_at,
            ended_at=ended_at,
            duration_s=duration,
            direction=direction if direction in ("inbound", "outbound") else None,
            status=self._status(data, kind),
            first_call=f.boolean(data.get("first_call")),
            spam=f.boolean(data.get("spam")),
            recording_url=f.text(f.first(data.get("recording"), data.get("recording_redirect"))),
            transcript=f.text(f.first(data.get("transcription"), _joined_transcript(data))),
        )

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

    def _caller(self, data: Mapping[str, Any]) -> Caller:
        region = self.settings.default_region
        return Caller(
            number=f.e164(f.first(data.get("customer_phone_number"), data.get("callernum")), region),
            name=f.caller_name(
                f.first(
                    data.get("formatted_customer_name"), data.get("customer_name"), data.get("callername")
                )
            ),
            email=f.text(data.get("customer_email")),
            city=f.text(f.first(data.get("customer_city"), data.get("callercity"))),
            region=f.text(f.first(data.get("customer_state"), data.get("callerstate"))),
            country=f.country_code(f.first(data.get("customer_country"), data.get("callercountry"))),
            postal_code=f.text(data.get("zip_code")),
        )

    def _attribution(self, data: Mapping[str, Any]) -> Attribution:
        landing_page = f.text(f.first(data.get("landing_page_url"), data.get("landingpage")))
        params = f.marketing_params(data, f.url_params(landing_page), f.utmz(data.get("utmz")))
        session = f.text(data.get("session_uuid"))
        return Attribution(
            # Session trackers swap a number per visitor; every other CallRail tracker is a
            # source tracker. Legacy bodies without the key do not say.
            dni_type="session" if session else "source" if "session_uuid" in data else None,
            source=f.text(f.first(data.get("source"), data.get("callsource"))),
            medium=f.text(f.first(data.get("medium"), data.get("referrermedium"), params.get("utm_medium"))),
            campaign=f.text(f.first(data.get("campaign"), params.get("utm_campaign"))),
            keyword=f.text(f.first(data.get("keywords"), params.get("utm_term"))),
            landing_page=landing_page,
            referrer=f.text(f.first(data.get("referring_url"), data.get("referrer"))),
            ga_client_id=f.ga_client_id(data.get("ga")),
            **params,
        )

    def _outcome(self, data: Mapping[str, Any]) -> Outcome:
        lead_status = f.lower(data.get("lead_status"))
        return Outcome(
            qualified=_QUALIFIED_BY_LEAD_STATUS.get(lead_status or ""),
            lead_status=lead_status,
            value=f.first(f.decimal(data.get("value")), f.decimal(data.get("formatted_value"))),
            # Legacy `tag` is a comma string of the same tags.
            tags=f.first(f.tags(data.get("tags")), f.tags(data.get("tag"))),
            notes=f.text(data.get("note")),
            agent=f.text(data.get("agent_email")),
        )

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
        return {key: value for key, value in custom.items() if value is not None}


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
