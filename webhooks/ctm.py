"""CallTrackingMetrics (CTM) activity webhooks: call start, call end, and later updates.

CTM signs `X-CTM-Time` + raw body: `X-CTM-Signature` = base64(HMAC-SHA1(account secret, time +
body)). `X-CTM-Time` is the delivery time (Unix seconds), so a stale one is refused; the
tolerance is the source option `timestamp_tolerance_s` (default 300 s).

The body does not say which webhook fired it. A webhook URL may say so (`?event=start`, `end`,
`update`); otherwise the body decides: a call still in progress is a start, a call carrying a
sale (scored after the call) is an update, anything else an end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from hub.core import events
from hub.core import fields as f
from hub.core.errors import NotACall, ParseError
from hub.core.events import KIND_COMPLETED, KIND_STARTED, KIND_UPDATED
from webhooks.assemble import Reader, assemble, lifecycle_time
from webhooks.auth import AuthRecipe, HmacAuth, RecipeAuth
from webhooks.base import InboundRequest, Provider, SourceSettings

SIGNATURE_HEADER = "X-CTM-Signature"
TIME_HEADER = "X-CTM-Time"
DEFAULT_TOLERANCE_S = 300

_KIND_BY_EVENT = {
    "start": KIND_STARTED,
    "end": KIND_COMPLETED,
    "end_immediate": KIND_COMPLETED,
    "update": KIND_UPDATED,
    "modify": KIND_UPDATED,
    "sale": KIND_UPDATED,
}
_DIRECTIONS = {
    "inbound": "inbound",
    "incoming": "inbound",
    "outbound": "outbound",
    "outgoing": "outbound",
    "outbound_call": "outbound",
}
# `call_status` / `dial_status` vocabularies (spaces and dashes both seen) -> normalized status.
_STATUS = {
    "answered": "answered",
    "no answer": "missed",
    "no-answer": "missed",
    "missed": "missed",
    "abandoned": "missed",
    "canceled": "missed",
    "cancelled": "missed",
    "voicemail": "voicemail",
    "busy": "busy",
    "failed": "failed",
    "in progress": "in_progress",
    "in-progress": "in_progress",
    "ringing": "ringing",
}


class CtmProvider(RecipeAuth, Provider):
    slug: ClassVar[str] = "ctm"
    name: ClassVar[str] = "CallTrackingMetrics"
    recipe: AuthRecipe = HmacAuth(
        header=SIGNATURE_HEADER,
        algorithm="sha1",
        encoding="base64",
        timestamp_header=TIME_HEADER,
        tolerance_s=DEFAULT_TOLERANCE_S,
    )
    auth: ClassVar[str] = (
        "HMAC-SHA1 of X-CTM-Time + raw body, base64, in X-CTM-Signature (account API secret)"
    )
    signs_body = True
    signs_timestamp = True
    url_params = frozenset({"event"})

    def __init__(self, settings: SourceSettings) -> None:
        super().__init__(settings)
        tolerance = f.integer(settings.options.get("timestamp_tolerance_s"))
        if tolerance is not None:
            assert isinstance(self.recipe, HmacAuth)
            self.recipe = replace(self.recipe, tolerance_s=tolerance)

    def parse(self, request: InboundRequest) -> list[events.CallEvent]:
        data = request.json_object()
        direction = f.lower(data.get("direction")) or ""
        if direction.startswith("msg") or f.first(data.get("message_body")) is not None:
            # CTM sends texts to the same webhooks, `direction: msg_inbound`.
            what = f.text(f.first(data.get("message_id"), data.get("id"))) or "without id"
            raise NotACall(f"CTM text message {what} is not a call")
        call_id = f.text(f.first(data.get("id"), data.get("sid")))
        if call_id is None:
            raise ParseError("CTM payload has neither id nor sid")
        kind = self._kind(request, data)
        read = Reader()
        call = self._call(data, kind, read)
        region = self.settings.default_region
        values: dict[str, Any] = {
            "provider_call_id": call_id,
            "kind": kind,
            "occurred_at": lifecycle_time(kind, call["call.started_at"], call["call.ended_at"]),
            "account.id": f.text(data.get("account_id")),
            "account.name": f.text(data.get("account_name")),
            "tracking_number": read.number(data.get("tracking_number"), "tracking_number", region),
            "business_number": read.number(data.get("business_number"), "business_number", region),
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
        event = (f.lower(request.query.get("event", [""])[0]) or "").replace(" ", "_").replace("-", "_")
        if event in _KIND_BY_EVENT:
            return _KIND_BY_EVENT[event]
        if _status_of(data.get("status")) in ("in_progress", "ringing"):
            return KIND_STARTED
        if isinstance(data.get("sale"), Mapping) and f.first(data.get("sale")) is not None:
            return KIND_UPDATED
        return KIND_COMPLETED

    def _call(self, data: Mapping[str, Any], kind: str, read: Reader) -> dict[str, Any]:
        started_at = f.first(
            read.time(data.get("unix_time"), "unix_time"), read.time(data.get("called_at"), "called_at")
        )
        duration = read.seconds(data.get("duration"), "duration")
        talk_time = read.seconds(data.get("talk_time"), "talk_time")
        status = self._status(data, kind, talk_time)
        ended_at = answered_at = None
        if kind != KIND_STARTED and started_at is not None and duration is not None:
            ended_at = f.shifted(started_at, duration)
            if status == "answered" and talk_time:
                answered_at = f.shifted(ended_at, -talk_time)
        # Calls to a tracking number are inbound; CTM names outbound calls (and, in some bodies,
        # leaves inbound ones without the key).
        direction = _DIRECTIONS.get(f.lower(data.get("direction")) or "", "inbound")
        return {
            "call.started_at": started_at,
            "call.answered_at": answered_at,
            "call.ended_at": ended_at,
            "call.duration_s": None if kind == KIND_STARTED else duration,
            "call.talk_time_s": None if kind == KIND_STARTED else talk_time,
            "call.direction": direction,
            "call.status": status,
            "call.first_call": f.boolean(data.get("is_new_caller")),
            "call.spam": f.boolean(data.get("spam")),
            "call.recording_url": f.text(data.get("audio")),
            "call.transcript": f.text(data.get("transcription_text")),
        }

    def _status(self, data: Mapping[str, Any], kind: str, talk_time: int | None) -> str | None:
        if kind == KIND_STARTED:
            return _status_of(data.get("status")) or "ringing"
        status = _status_of(data.get("call_status")) or _status_of(data.get("dial_status"))
        if status is None and f.lower(data.get("dial_status")) == "completed":
            # A completed dial says the leg ended, not that someone talked.
            status = "answered" if talk_time else "missed"
        return status

    def _caller(self, data: Mapping[str, Any], read: Reader) -> dict[str, Any]:
        region = self.settings.default_region
        return {
            "caller.number": f.first(
                read.number(data.get("caller_number"), "caller_number", region),
                read.number(data.get("caller_number_complete"), "caller_number_complete", region),
            ),
            # A caller ID naming the caller's town and state is dropped when assembled.
            "caller.name": f.caller_name(f.first(data.get("name"), data.get("cnam"))),
            "caller.email": f.text(data.get("email")),
            "caller.city": f.text(data.get("city")),
            "caller.region": f.text(data.get("state")),
            "caller.country": f.country_code(data.get("country")),
            "caller.postal_code": f.text(data.get("postal_code")),
        }

    def _attribution(self, data: Mapping[str, Any]) -> dict[str, Any]:
        paid = _mapping(data.get("paid"))
        ga = _mapping(data.get("ga"))
        landing_page = f.text(data.get("location"))
        braid_type = f.lower(ga.get("gwbraid_type"))
        braid = {braid_type: ga.get("gwbraid")} if braid_type in ("gbraid", "wbraid") else {}
        params = f.marketing_params(
            {"gclid": ga.get("gclid"), **braid},
            f.url_params(landing_page),
            f.utmz(ga.get("utmz")),
            _touchpoint_click_ids(data.get("touchpoints")),
        )
        visitor = f.boolean(data.get("visitor"))
        return {
            # A visitor-tracked call came through a per-session pool number.
            "attribution.dni_type": "session" if visitor else None,
            "attribution.source": f.text(f.first(data.get("source"), data.get("web_source"))),
            "attribution.medium": f.text(
                f.first(data.get("medium"), paid.get("medium"), ga.get("medium"), params.get("utm_medium"))
            ),
            "attribution.campaign": f.text(
                f.first(
                    data.get("campaign"), paid.get("campaign"), ga.get("campaign"), params.get("utm_campaign")
                )
            ),
            "attribution.keyword": f.text(
                f.first(data.get("keyword"), paid.get("keyword"), data.get("search"), params.get("utm_term"))
            ),
            "attribution.ad_group": f.text(
                f.first(paid.get("ad_group"), data.get("ad_group_id"), data.get("adgroup_id"))
            ),
            "attribution.ad": f.text(data.get("creative_id")),
            "attribution.landing_page": landing_page,
            "attribution.referrer": f.text(data.get("referrer")),
            "attribution.ga_client_id": f.ga_client_id(ga.get("cid")),
            "attribution.ga_session_id": self._ga_session(ga.get("ga4")),
            "attribution.visitor_ip": f.text(data.get("visitor_ip")),
            **{f"attribution.{key}": value for key, value in params.items()},
        }

    def _ga_session(self, streams: Any) -> str | None:
        """The GA4 session id from `ga.ga4` ([[measurement id, session id], ...]).

        With several streams, the source option `ga4_measurement_id` picks the one the hub
        reports to, and a call without that stream has no session for it (another property's
        session would not join the client's web session); without the option the first stream's
        session is taken.
        """
        if not isinstance(streams, list):
            return None
        pairs = [s for s in streams if isinstance(s, list) and len(s) >= 2]
        wanted = f.text(self.settings.options.get("ga4_measurement_id"))
        chosen = [s for s in pairs if f.text(s[0]) == wanted] if wanted else pairs
        return f.ga_session_id(chosen[0][1]) if chosen else None

    def _outcome(self, data: Mapping[str, Any], read: Reader) -> dict[str, Any]:
        sale = _mapping(data.get("sale"))
        agent = _mapping(data.get("agent"))
        return {
            "outcome.qualified": f.boolean(sale.get("conversion")),
            "outcome.lead_status": f.text(sale.get("name")),
            "outcome.value": read.money(sale.get("value"), "sale.value"),
            "outcome.tags": f.tags(data.get("tag_list")),
            "outcome.notes": f.text(f.first(data.get("notes"), sale.get("notes"))),
            "outcome.agent": f.text(
                f.first(agent.get("email"), agent.get("name"), sale.get("service_rep_name"))
            ),
        }

    def _custom(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """CTM facts without a normalized home, kept for mappings (`custom.visitor_sid`)."""
        sale = _mapping(data.get("sale"))
        custom: dict[str, Any] = {key: f.text(data.get(key)) for key in _CUSTOM_TEXT_KEYS}
        custom["sale_score"] = f.integer(sale.get("score"))
        custom["sale_date"] = f.text(sale.get("sale_date"))
        custom["custom_fields"] = f.first(_mapping(data.get("custom_fields")))
        return {f"custom.{key}": value for key, value in custom.items()}


_CUSTOM_TEXT_KEYS = (
    "sid",
    "visitor_sid",
    "tracking_label",
    "business_label",
    "summary",
    "likelihood",
    "first_touch",
    "last_touch",
    "last_location",
)


def _touchpoint_click_ids(touchpoints: Any) -> dict[str, Any]:
    """Click ids CTM recorded on the visitor's touchpoints (`type: gclid`), the latest winning."""
    found: dict[str, Any] = {}
    for touch in touchpoints if isinstance(touchpoints, list) else []:
        if isinstance(touch, Mapping) and f.lower(touch.get("type")) in f.CLICK_ID_KEYS:
            found[str(f.lower(touch.get("type")))] = touch.get("clickid")
    return found


def _status_of(value: Any) -> str | None:
    return _STATUS.get(f.lower(value) or "")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
