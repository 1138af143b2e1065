"""CallTrackingMetrics (CTM) activity webhooks: call start, call end, and later updates.

CTM signs `X-CTM-Time` + raw body: `X-CTM-Signature` = base64(HMAC-SHA1(account secret, time +
body)). `X-CTM-Time` is the delivery time (Unix seconds), so a stale one is refused; the
tolerance is the source option `timestamp_tolerance_s` (default 300 s).

The body does not say which webhook fired it. A webhook URL may say so (`?event=start`, `end`,
`update`); otherwise the body decides: a call still in progress is a start, a call carrying a
sale (scored after the call) is an update, anything else an end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
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
    check_timestamp,
    hmac_digest,
    lifecycle_time,
    matches_any,
    require_header,
)

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


def _signature(secret: str, sent_at: str, body: bytes) -> str:
    return b64(hmac_digest("sha1", secret, sent_at.encode() + body))


class CtmProvider(Provider):
    slug = "ctm"
    name = "CallTrackingMetrics"
    auth = "HMAC-SHA1 of X-CTM-Time + raw body, base64, in X-CTM-Signature (account API secret)"
    signs_body = True
    signs_timestamp = True
    url_params = frozenset({"event"})

    def verify(self, request: InboundRequest, secrets: Sequence[str], now: datetime) -> None:
        provided = require_header(request, SIGNATURE_HEADER)
        sent_at = require_header(request, TIME_HEADER).strip()
        if not matches_any(provided, lambda secret: _signature(secret, sent_at, request.body), secrets):
            raise SignatureError("X-CTM-Signature does not match X-CTM-Time + body for any configured secret")
        try:
            sent = datetime.fromtimestamp(int(sent_at), tz=UTC)
        except (ValueError, OverflowError, OSError) as exc:
            raise SignatureError(f"X-CTM-Time is not Unix seconds: {sent_at[:32]!r}") from exc
        check_timestamp(sent, now, self._tolerance())

    def sign(self, request: InboundRequest, secret: str, now: datetime) -> InboundRequest:
        sent_at = str(int(now.timestamp()))
        headers = request.headers.with_values(
            **{TIME_HEADER: sent_at, SIGNATURE_HEADER: _signature(secret, sent_at, request.body)}
        )
        return InboundRequest(request.method, request.url, headers, request.body, request.received_at)

    def _tolerance(self) -> int:
        value = f.integer(self.settings.options.get("timestamp_tolerance_s"))
        return DEFAULT_TOLERANCE_S if value is None else value

    def parse(self, request: InboundRequest) -> list[CallEvent]:
        data = request.json_object()
        call_id = f.text(f.first(data.get("id"), data.get("sid")))
        if call_id is None:
            raise ParseError("CTM payload has neither id nor sid")
        kind = self._kind(request, data)
        call = self._call(data, kind)
        occurred_at = lifecycle_time(kind, call, request.received_at)
        return [
            CallEvent(
                provider=self.slug,
                provider_call_id=call_id,
                kind=kind,
                occurred_at=occurred_at,
                account=Account(id=f.text(data.get("account_id")), name=f.text(data.get("account_name"))),
                call=call,
                caller=self._caller(data),
                tracking_number=f.e164(data.get("tracking_number"), self.settings.default_region),
                business_number=f.e164(data.get("business_number"), self.settings.default_region),
                attribution=self._attribution(data),
                outcome=self._outcome(data),
                custom=self._custom(data),
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

    def _call(self, data: Mapping[str, Any], kind: str) -> Call:
        started_at = f.first(f.timestamp(data.get("unix_time")), f.timestamp(data.get("called_at")))
        duration = f.seconds(data.get("duration"))
        talk_time = f.seconds(data.get("talk_time"))
        status = self._status(data, kind, talk_time)
        ended_at = answered_at = None
        if kind != KIND_STARTED and started_at is not None and duration is not None:
            ended_at = f.shifted(started_at, duration)
            if status == "answered" and talk_time:
                answered_at = f.shifted(ended_at, -talk_time)
        direction = f.lower(data.get("direction"))
        return Call(
            started_at=started_at,
            answered_at=answered_at,
            ended_at=ended_at,
            duration_s=None if kind == KIND_STARTED else duration,
            talk_time_s=None if kind == KIND_STARTED else talk_time,
            direction=direction if direction in ("inbound", "outbound") else None,
            status=status,
            first_call=f.boolean(data.get("is_new_caller")),
            spam=f.boolean(data.get("spam")),
            recording_url=f.text(data.get("audio")),
            transcript=f.text(data.get("transcription_text")),
        )

    def _status(self, data: Mapping[str, Any], kind: str, talk_time: int | None) -> str | None:
        if kind == KIND_STARTED:
            return _status_of(data.get("status")) or "ringing"
        status = _status_of(data.get("call_status")) or _status_of(data.get("dial_status"))
        if status is None and f.lower(data.get("dial_status")) == "completed":
            # A completed dial says the leg ended, not that someone talked.
            status = "answered" if talk_time else "missed"
        return status

    def _caller(self, data: Mapping[str, Any]) -> Caller:
        region = self.settings.default_region
        return Caller(
            number=f.first(
                f.e164(data.get("caller_number"), region), f.e164(data.get("caller_number_complete"), region)
            ),
            name=f.caller_name(f.first(data.get("name"), data.get("cnam"))),
            email=f.text(data.get("email")),
            city=f.text(data.get("city")),
            region=f.text(data.get("state")),
            country=f.country_code(data.get("country")),
            postal_code=f.text(data.get("postal_code")),
        )

    def _attribution(self, data: Mapping[str, Any]) -> Attribution:
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
        return Attribution(
            # A visitor-tracked call came through a per-session pool number.
            dni_type="session" if visitor else None,
            source=f.text(f.first(data.get("source"), data.get("web_source"))),
            medium=f.text(
                f.first(data.get("medium"), paid.get("medium"), ga.get("medium"), params.get("utm_medium"))
            ),
            campaign=f.text(
                f.first(
                    data.get("campaign"), paid.get("campaign"), ga.get("campaign"), params.get("utm_campaign")
                )
            ),
            keyword=f.text(
                f.first(data.get("keyword"), paid.get("keyword"), data.get("search"), params.get("utm_term"))
            ),
            ad_group=f.text(f.first(paid.get("ad_group"), data.get("ad_group_id"), data.get("adgroup_id"))),
            ad=f.text(data.get("creative_id")),
            landing_page=landing_page,
            referrer=f.text(data.get("referrer")),
            ga_client_id=f.ga_client_id(ga.get("cid")),
            ga_session_id=self._ga_session(ga.get("ga4")),
            visitor_ip=f.text(data.get("visitor_ip")),
            **params,
        )

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

    def _outcome(self, data: Mapping[str, Any]) -> Outcome:
        sale = _mapping(data.get("sale"))
        agent = _mapping(data.get("agent"))
        return Outcome(
            qualified=f.boolean(sale.get("conversion")),
            lead_status=f.text(sale.get("name")),
            value=f.decimal(sale.get("value")),
            tags=f.tags(data.get("tag_list")),
            notes=f.text(f.first(data.get("notes"), sale.get("notes"))),
            agent=f.text(f.first(agent.get("email"), agent.get("name"), sale.get("service_rep_name"))),
        )

    def _custom(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """CTM facts without a normalized home, kept for mappings (`custom.visitor_sid`)."""
        sale = _mapping(data.get("sale"))
        custom: dict[str, Any] = {key: f.text(data.get(key)) for key in _CUSTOM_TEXT_KEYS}
        custom["sale_score"] = f.integer(sale.get("score"))
        custom["sale_date"] = f.text(sale.get("sale_date"))
        custom["custom_fields"] = f.first(_mapping(data.get("custom_fields")))
        return {key: value for key, value in custom.items() if value is not None}


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
