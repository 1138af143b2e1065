"""Invoca webhooks (post-call, signals, corrections), built by the customer from substitution tokens.

Invoca documents no signing for webhooks, so a source proves itself with a shared token: Invoca's
webhook URL is free text, so the token goes in its query string (`?token=...`); an
`Authorization: Bearer <token>` header is accepted too, for setups that can add one. The token is
compared in constant time and several may be configured (rotation).

Body keys are Transactions API names (`transaction_id`, `complete_call_id`, `calling_phone_number`,
`start_time_utc`...), all values text. A call's later changes arrive as new transactions (Signals,
Post Call Events, corrections): each is a `call.updated` of the call they belong to, keyed by
`complete_call_id`. Keys the customer added that have no normalized home stay in `custom`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from hub.core import events
from hub.core import fields as f
from hub.core.errors import ParseError
from hub.core.events import KIND_COMPLETED, KIND_STARTED, KIND_UNKNOWN, KIND_UPDATED
from webhooks.assemble import Reader, assemble, lifecycle_time
from webhooks.auth import AuthRecipe, RecipeAuth, TokenAuth
from webhooks.base import InboundRequest, Provider

TOKEN_PARAM = "token"  # noqa: S105 -- the parameter's name, not a secret
AUTHORIZATION_HEADER = "Authorization"
#: Names the webhook type where the body cannot (`?event=pre_transfer`).
EVENT_PARAM = "event"

_UPDATE_TRANSACTIONS = {"signal", "post call event", "reported conversion"}
# `call_result_description_detail` values are not published; these are words seen in them.
_STATUS_WORDS = (
    ("voicemail", "voicemail"),
    ("no answer", "missed"),
    ("busy", "busy"),
    ("fail", "failed"),
    ("error", "failed"),
    ("abandon", "missed"),
    ("hang", "missed"),
    ("cancel", "missed"),
    ("connected", "answered"),
    ("answered", "answered"),
    ("transferred", "answered"),
)
_QUALIFIED_WORDS = {"qualified": True, "unqualified": False, "not qualified": False}


class InvocaProvider(RecipeAuth, Provider):
    slug: ClassVar[str] = "invoca"
    name: ClassVar[str] = "Invoca"
    recipe: AuthRecipe = TokenAuth(header=AUTHORIZATION_HEADER, prefix="Bearer ", query=TOKEN_PARAM)
    auth: ClassVar[str] = "shared token in the webhook URL (?token=...) or an Authorization: Bearer header"
    uses_token = True

    def parse(self, request: InboundRequest) -> list[events.CallEvent]:
        data = self._payload(request)
        call_id = f.text(
            f.first(
                data.get("complete_call_id"), data.get("corrects_transaction_id"), data.get("transaction_id")
            )
        )
        if call_id is None:
            raise ParseError("Invoca payload has no complete_call_id or transaction_id")
        kind = self._kind(request, data)
        read = Reader()
        call = self._call(data, kind, read)
        occurred_at = lifecycle_time(kind, call["call.started_at"], call["call.ended_at"])
        if kind == KIND_UPDATED:
            occurred_at = read.time(data.get("signal_occurred_at"), "signal_occurred_at")
        get = _Tracker(data)
        values: dict[str, Any] = {
            "provider_call_id": call_id,
            "kind": kind,
            "occurred_at": occurred_at,
            "account.id": f.text(f.first(get("advertiser_id"), get("advertiser_id_from_network"))),
            "account.name": f.text(get("advertiser_name")),
            **call,
            **self._caller(get, read),
            "business_number": read.number(
                get("destination_phone_number"), "destination_phone_number", self.settings.default_region
            ),
            **self._attribution(get),
            **self._outcome(get, read),
        }
        values |= {f"custom.{key}": value for key, value in get.unused(skip=_CALL_KEYS).items()}
        return [assemble(self.slug, values, received_at=request.received_at, warnings=read.warnings)]

    def _payload(self, request: InboundRequest) -> dict[str, Any]:
        if request.content_type == "application/json" or request.body.lstrip().startswith(b"{"):
            return request.json_object()
        if request.body.lstrip().startswith(b"<"):
            raise ParseError("Invoca XML Post is not supported: choose JSON Post or HTTP Form Post")
        # An HTTP GET template shares the query string with the hub's own parameters.
        own = {TOKEN_PARAM, EVENT_PARAM} if not request.body else set()
        return {k: v for k, v in request.params().items() if k not in own}

    def _kind(self, request: InboundRequest, data: Mapping[str, Any]) -> str:
        event = (f.lower(request.query.get(EVENT_PARAM, [""])[0]) or "").replace("-", "_")
        if event in ("pre_transfer", "real_time_routing"):
            return KIND_STARTED
        transaction = f.lower(data.get("transaction_type"))
        if transaction in _UPDATE_TRANSACTIONS or f.text(data.get("corrects_transaction_id")):
            return KIND_UPDATED
        if transaction in (None, "call"):
            return KIND_COMPLETED
        return KIND_UNKNOWN

    def _call(self, data: Mapping[str, Any], kind: str, read: Reader) -> dict[str, Any]:
        started_at = f.first(
            read.time(data.get("start_time_utc"), "start_time_utc"),
            read.time(data.get("start_time_local"), "start_time_local"),
            read.time(data.get("start_time_xml"), "start_time_xml"),
        )
        duration = read.seconds(data.get("duration"), "duration")
        talk_time = read.seconds(data.get("connect_duration"), "connect_duration")
        status = self._status(data, talk_time) if kind in (KIND_COMPLETED, KIND_UPDATED) else None
        ended_at = answered_at = None
        if kind != KIND_STARTED and started_at is not None and duration is not None:
            ended_at = f.shifted(started_at, duration)
            if status == "answered" and talk_time:
                answered_at = f.shifted(ended_at, -talk_time)
        return {
            "call.started_at": started_at,
            "call.answered_at": answered_at,
            "call.ended_at": ended_at,
            "call.duration_s": duration,
            "call.talk_time_s": talk_time,
            # Invoca tracks inbound calls to promo numbers only.
            "call.direction": "inbound",
            "call.status": "ringing" if kind == KIND_STARTED else status,
            "call.first_call": _negated(f.boolean(data.get("repeat_calling_phone_number"))),
            "call.recording_url": f.text(f.first(data.get("recording"), data.get("recording_download_url"))),
            "call.transcript": f.text(data.get("transcript")),
        }

    def _status(self, data: Mapping[str, Any], talk_time: int | None) -> str | None:
        result = f.lower(data.get("call_result_description_detail"))
        if result:
            for word, status in _STATUS_WORDS:
                if word in result:
                    return status
        if f.lower(data.get("transaction_type")) in _UPDATE_TRANSACTIONS:
            return None
        return None if talk_time is None else "answered" if talk_time > 0 else "missed"

    def _caller(self, get: _Tracker, read: Reader) -> dict[str, Any]:
        return {
            "caller.number": read.number(
                get("calling_phone_number"), "calling_phone_number", self.settings.default_region
            ),
            "caller.name": f.caller_name(
                f.first(get("caller_name"), get("caller_name_reported"), get("name"))
            ),
            "caller.email": f.text(f.first(get("email_address"), get("email"))),
            "caller.city": f.text(get("city")),
            "caller.region": f.text(get("region")),
            # Without a country, assemble takes the number's.
            "caller.country": f.country_code(get("country")),
            "caller.postal_code": f.text(f.first(get("caller_zip"), get("verified_zip"), get("zip"))),
        }

    def _attribution(self, get: _Tracker) -> dict[str, Any]:
        landing_page = f.text(f.first(get("landing_page"), get("landing_page_url")))
        own = {key: get(key) for key in (*f.UTM_KEYS, *f.CLICK_ID_KEYS)}
        params = f.marketing_params(own, f.url_params(landing_page))
        # Read without consuming: the pool and promo number ids have no home but `custom`.
        pool = f.text(get.peek("dynamic_number_pool_id"))
        promo_line = f.text(get.peek("virtual_line_id"))
        return {
            # A RingPool number is per visitor; a promo number without a pool is printed/static.
            "attribution.dni_type": "session" if pool else "static" if promo_line else None,
            "attribution.source": f.text(
                f.first(get("call_source_description"), get("dynamic_number_pool_referrer_search_engine"))
            ),
            "attribution.medium": f.text(f.first(get("media_type"), params.get("utm_medium"))),
            "attribution.campaign": f.text(
                f.first(get("dynamic_number_pool_referrer_referrer_campaign"), params.get("utm_campaign"))
            ),
            "attribution.keyword": f.text(
                f.first(get("dynamic_number_pool_referrer_search_keywords"), params.get("utm_term"))
            ),
            "attribution.ad_group": f.text(
                f.first(
                    get("dynamic_number_pool_referrer_ad_group"),
                    get("dynamic_number_pool_referrer_ad_group_id"),
                )
            ),
            "attribution.ad": f.text(
                f.first(get("dynamic_number_pool_referrer_ad_id"), get("dynamic_number_pool_referrer_ad"))
            ),
            "attribution.landing_page": landing_page,
            "attribution.referrer": f.text(f.first(get("referrer"), get("referring_url"))),
            "attribution.ga_client_id": f.ga_client_id(
                f.first(get("g_cid"), get("ga_client_id"), get("_ga"))
            ),
            "attribution.ga_session_id": f.ga_session_id(f.first(get("ga_session_id"), get("g_sid"))),
            "attribution.visitor_ip": f.text(get("visitor_ip")),
            **{f"attribution.{key}": value for key, value in params.items()},
        }

    def _outcome(self, get: _Tracker, read: Reader) -> dict[str, Any]:
        quality = f.text(f.first(get("lead_status"), get("lead_quality")))
        signal = f.text(get("signal_name")) if f.boolean(get("signal_value")) is not False else None
        return {
            "outcome.qualified": _QUALIFIED_WORDS.get((quality or "").lower()),
            "outcome.lead_status": f.first(signal, quality),
            "outcome.value": read.money(get("revenue"), "revenue"),
            "outcome.currency": f.currency_code(get("currency")),
            "outcome.notes": f.text(get("notes")),
            "outcome.agent": f.text(f.first(get("agent_email"), get("agent_name"))),
        }


class _Tracker:
    """Reads keys of the payload and remembers which: what is left over goes to `custom`."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data
        self._used: set[str] = set()

    def __call__(self, key: str) -> Any:
        self._used.add(key)
        return self._data.get(key)

    def peek(self, key: str) -> Any:
        return self._data.get(key)

    def unused(self, skip: Sequence[str]) -> dict[str, Any]:
        taken = self._used.union(skip)
        return {k: v for k, v in self._data.items() if k not in taken and f.first(v) is not None}


# Keys normalized outside the tracker (identity, timing, status). The transaction's own id, type
# and result text stay in `custom`: corrections and signals are told apart by them.
_CALL_KEYS = (
    "complete_call_id",
    "signal_occurred_at",
    "start_time_utc",
    "start_time_local",
    "start_time_xml",
    "duration",
    "connect_duration",
    "repeat_calling_phone_number",
    "recording",
    "recording_download_url",
    "transcript",
)


def _negated(value: bool | None) -> bool | None:
    return None if value is None else not value
