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
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from hub.core import fields as f
from hub.core.errors import ParseError, SignatureError
from hub.core.events import (
    KIND_COMPLETED,
    KIND_STARTED,
    KIND_UNKNOWN,
    KIND_UPDATED,
    Account,
    Attribution,
    Call,
    Caller,
    CallEvent,
    Outcome,
)
from webhooks.base import InboundRequest, Provider, matches_any

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


def _params_without_token(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != TOKEN_PARAM]
    return urlunsplit(parts._replace(query=urlencode(query)))


class InvocaProvider(Provider):
    slug = "invoca"
    name = "Invoca"
    auth = "shared token in the webhook URL (?token=...) or an Authorization: Bearer header"
    uses_token = True

    def verify(self, request: InboundRequest, secrets: Sequence[str], now: datetime) -> None:
        provided = request.query.get(TOKEN_PARAM, [""])[0]
        scheme, _, credentials = request.headers.get(AUTHORIZATION_HEADER, "").partition(" ")
        if not provided and scheme.lower() == "bearer":
            provided = credentials.strip()
        if not provided:
            raise SignatureError(
                f"no token: add ?{TOKEN_PARAM}=<secret> to the webhook URL at Invoca",
                reason="missing_signature",
            )
        if not matches_any(provided, lambda secret: secret, secrets):
            raise SignatureError("token does not match any configured secret")

    def sign(self, request: InboundRequest, secret: str, now: datetime) -> InboundRequest:
        base = _params_without_token(request.url)
        separator = "&" if urlsplit(base).query else "?"
        url = f"{base}{separator}{urlencode({TOKEN_PARAM: secret})}"
        return InboundRequest(request.method, url, request.headers, request.body, request.received_at)

    def credential_carriers(self) -> tuple[frozenset[str], frozenset[str]]:
        return frozenset({AUTHORIZATION_HEADER}), frozenset({TOKEN_PARAM})

    def parse(self, request: InboundRequest) -> list[CallEvent]:
        data = self._payload(request)
        call_id = f.text(
            f.first(
                data.get("complete_call_id"), data.get("corrects_transaction_id"), data.get("transaction_id")
            )
        )
        if call_id is None:
            raise ParseError("Invoca payload has no complete_call_id or transaction_id")
        kind = self._kind(request, data)
        call = self._call(data, kind)
        occurred_at = {
            KIND_STARTED: call.started_at,
            KIND_COMPLETED: call.ended_at or call.started_at,
            KIND_UPDATED: f.timestamp(data.get("signal_occurred_at")),
        }.get(kind) or request.received_at
        get = _Tracker(data)
        account = Account(
            id=f.text(f.first(get("advertiser_id"), get("advertiser_id_from_network"))),
            name=f.text(get("advertiser_name")),
        )
        caller = self._caller(get)
        business_number = f.e164(get("destination_phone_number"), self.settings.default_region)
        attribution = self._attribution(get)
        outcome = self._outcome(get)
        return [
            CallEvent(
                provider=self.slug,
                provider_call_id=call_id,
                kind=kind,
                occurred_at=occurred_at,
                account=account,
                call=call,
                caller=caller,
                business_number=business_number,
                attribution=attribution,
                outcome=outcome,
                custom=get.unused(skip=_CALL_KEYS),
            )
        ]

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

    def _call(self, data: Mapping[str, Any], kind: str) -> Call:
        started_at = f.first(
            f.timestamp(data.get("start_time_utc")),
            f.timestamp(data.get("start_time_local")),
            f.timestamp(data.get("start_time_xml")),
        )
        duration = f.seconds(data.get("duration"))
        talk_time = f.seconds(data.get("connect_duration"))
        status = self._status(data, talk_time) if kind in (KIND_COMPLETED, KIND_UPDATED) else None
        ended_at = answered_at = None
        if kind != KIND_STARTED and started_at is not None and duration is not None:
            ended_at = f.shifted(started_at, duration)
            if status == "answered" and talk_time:
                answered_at = f.shifted(ended_at, -talk_time)
        return Call(
            started_at=started_at,
            answered_at=answered_at,
            ended_at=ended_at,
            duration_s=duration,
            talk_time_s=talk_time,
            # Invoca tracks inbound calls to promo numbers only.
            direction="inbound",
            status="ringing" if kind == KIND_STARTED else status,
            first_call=_negated(f.boolean(data.get("repeat_calling_phone_number"))),
            recording_url=f.text(f.first(data.get("recording"), data.get("recording_download_url"))),
            transcript=f.text(data.get("transcript")),
        )

    def _status(self, data: Mapping[str, Any], talk_time: int | None) -> str | None:
        result = f.lower(data.get("call_result_description_detail"))
        if result:
            for word, status in _STATUS_WORDS:
                if word in result:
                    return status
        if f.lower(data.get("transaction_type")) in _UPDATE_TRANSACTIONS:
            return None
        return None if talk_time is None else "answered" if talk_time > 0 else "missed"

    def _caller(self, get: _Tracker) -> Caller:
        number = f.e164(get("calling_phone_number"), self.settings.default_region)
        return Caller(
            number=number,
            name=f.caller_name(f.first(get("caller_name"), get("caller_name_reported"), get("name"))),
            email=f.text(f.first(get("email_address"), get("email"))),
            city=f.text(get("city")),
            region=f.text(get("region")),
            country=f.first(f.country_code(get("country")), f.phone_country(number)),
            postal_code=f.text(f.first(get("caller_zip"), get("verified_zip"), get("zip"))),
        )

    def _attribution(self, get: _Tracker) -> Attribution:
        landing_page = f.text(f.first(get("landing_page"), get("landing_page_url")))
        own = {key: get(key) for key in (*f.UTM_KEYS, *f.CLICK_ID_KEYS)}
        params = f.marketing_params(own, f.url_params(landing_page))
        # Read without consuming: the pool and promo number ids have no home but `custom`.
        pool = f.text(get.peek("dynamic_number_pool_id"))
        promo_line = f.text(get.peek("virtual_line_id"))
        return Attribution(
            # A RingPool number is per visitor; a promo number without a pool is printed/static.
            dni_type="session" if pool else "static" if promo_line else None,
            source=f.text(
                f.first(get("call_source_description"), get("dynamic_number_pool_referrer_search_engine"))
            ),
            medium=f.text(f.first(get("media_type"), params.get("utm_medium"))),
            campaign=f.text(
                f.first(get("dynamic_number_pool_referrer_referrer_campaign"), params.get("utm_campaign"))
            ),
            keyword=f.text(
                f.first(get("dynamic_number_pool_referrer_search_keywords"), params.get("utm_term"))
            ),
            ad_group=f.text(
                f.first(
                    get("dynamic_number_pool_referrer_ad_group"),
                    get("dynamic_number_pool_referrer_ad_group_id"),
                )
            ),
            ad=f.text(
                f.first(get("dynamic_number_pool_referrer_ad_id"), get("dynamic_number_pool_referrer_ad"))
            ),
            landing_page=landing_page,
            referrer=f.text(f.first(get("referrer"), get("referring_url"))),
            ga_client_id=f.ga_client_id(f.first(get("g_cid"), get("ga_client_id"), get("_ga"))),
            ga_session_id=f.ga_session_id(f.first(get("ga_session_id"), get("g_sid"))),
            visitor_ip=f.text(get("visitor_ip")),
            **params,
        )

    def _outcome(self, get: _Tracker) -> Outcome:
        quality = f.text(f.first(get("lead_status"), get("lead_quality")))
        signal = f.text(get("signal_name")) if f.boolean(get("signal_value")) is not False else None
        return Outcome(
            qualified=_QUALIFIED_WORDS.get((quality or "").lower()),
            lead_status=f.first(signal, quality),
            value=f.decimal(get("revenue")),
            currency=f.currency_code(get("currency")),
            notes=f.text(get("notes")),
            agent=f.text(f.first(get("agent_email"), get("agent_name"))),
        )


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
