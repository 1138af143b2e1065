"""Twilio Programmable Voice status callbacks (and recording / `<Dial action>` callbacks).

Twilio signs the URL it called plus, for form POSTs, every parameter sorted by name and
appended as name + value: `X-Twilio-Signature` = base64(HMAC-SHA1(Auth Token, that string)).
The URL must be the public one configured at Twilio: the hub passes its configured public base
URL, never one rebuilt from proxy headers. A Webhooks Rule may switch the algorithm to
HMAC-SHA256 (announced in `X-Twilio-Webhooks-Signature-Settings`).

A tracked call is a parent leg (caller -> Twilio number) and, when TwiML dials the business,
a child leg per dialed number. Every leg's callback is a version of the same call, keyed by the
parent's CallSid: the parent leg knows the tracking number and the total duration, the dial
leg knows the business number, whether someone answered and the talk time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import SplitResult, urlsplit

from hub.core import fields as f
from hub.core.errors import ParseError, SignatureError
from hub.core.events import KIND_COMPLETED, KIND_STARTED, KIND_UPDATED, CallEvent
from webhooks.assemble import Reader, assemble
from webhooks.base import FORM_CONTENT_TYPE, InboundRequest, Provider, b64, hmac_digest, matches_any

SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"

_STARTED_STATUSES = {"queued", "initiated", "ringing", "in-progress"}
_STATUS = {
    "queued": "ringing",
    "initiated": "ringing",
    "ringing": "ringing",
    "in-progress": "in_progress",
    "answered": "answered",
    "busy": "busy",
    "failed": "failed",
    "no-answer": "missed",
    "canceled": "missed",
}


def _algorithm(request: InboundRequest) -> str:
    settings = request.headers.get(SETTINGS_HEADER, "")
    for part in settings.split(","):
        name, _, value = part.partition("=")
        if name.strip().lower() == "algorithm" and value.strip().upper() == "HMAC_SHA256":
            return "sha256"
    return "sha1"


def _signed_params(request: InboundRequest) -> str:
    """Form parameters as Twilio signs them: sorted by name, then value, name + value appended."""
    if request.method.upper() != "POST" or request.content_type not in (FORM_CONTENT_TYPE, ""):
        return ""
    if not request.body:
        return ""
    form = request.form
    return "".join(name + value for name in sorted(form) for value in sorted(set(form[name])))


def _url_variants(url: str) -> list[str]:
    """The URL as given and with the default port toggled: Twilio has signed both forms."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    default_port = 443 if parts.scheme == "https" else 80
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    try:
        port = parts.port
    except ValueError:
        return [url]
    toggled: SplitResult
    if port is None:
        toggled = parts._replace(netloc=f"{prefix}{host}:{default_port}")
    else:
        toggled = parts._replace(netloc=f"{prefix}{host}")
    return [url, toggled.geturl()]


def _signature(secret: str, url: str, params: str, algorithm: str) -> str:
    return b64(hmac_digest(algorithm, secret, (url + params).encode()))


class TwilioProvider(Provider):
    slug = "twilio"
    name = "Twilio Programmable Voice"
    auth = "HMAC-SHA1 of public URL + sorted POST params, base64, in X-Twilio-Signature (Auth Token)"
    signs_body = True

    def verify(self, request: InboundRequest, secrets: Sequence[str], now: datetime) -> None:
        provided = request.headers.get(SIGNATURE_HEADER)
        if not provided:
            raise SignatureError(f"missing {SIGNATURE_HEADER} header", reason="missing_signature")
        if request.content_type == "application/json":
            self._check_body_hash(request)
        elif request.body and (
            request.method.upper() != "POST" or request.content_type not in (FORM_CONTENT_TYPE, "")
        ):
            # Twilio signs a GET's URL only: a body beside it would be unsigned data.
            raise SignatureError(
                f"a {request.method} with a {request.content_type or 'untyped'} body: Twilio signs no such body"
            )
        try:
            params = _signed_params(request)
        except ParseError as exc:
            # Nothing Twilio signed can be unreadable: refuse rather than fail.
            raise SignatureError(f"form body cannot be read for the signature check: {exc.message}") from exc
        algorithm = _algorithm(request)
        for url in _url_variants(request.url):
            if matches_any(
                provided, partial(_signature, url=url, params=params, algorithm=algorithm), secrets
            ):
                return
        raise SignatureError(
            "X-Twilio-Signature does not match the public URL and parameters for any Auth Token "
            "(check that the hub's public URL is exactly the one configured at Twilio)"
        )

    def _check_body_hash(self, request: InboundRequest) -> None:
        # JSON webhooks sign the URL only; the URL carries the body's SHA-256.
        expected = request.query.get("bodySHA256", [""])[0]
        if not expected or hashlib.sha256(request.body).hexdigest() != expected.lower():
            raise SignatureError("bodySHA256 in the URL does not match the JSON body")

    def sign(self, request: InboundRequest, secret: str, now: datetime) -> InboundRequest:
        signature = _signature(secret, request.url, _signed_params(request), _algorithm(request))
        headers = request.headers.with_values(**{SIGNATURE_HEADER: signature})
        return InboundRequest(request.method, request.url, headers, request.body, request.received_at)

    def parse(self, request: InboundRequest) -> list[CallEvent]:
        params = request.params()
        leg_sid = f.text(params.get("CallSid"))
        if leg_sid is None:
            raise ParseError("Twilio callback has no CallSid")
        status = f.lower(params.get("CallStatus"))
        if status is None and f.text(params.get("RecordingUrl")) is None:
            raise ParseError("Twilio callback has neither CallStatus nor RecordingUrl")
        kind = self._kind(params, status)
        leg = f.lower(params.get("Direction")) or ""
        read = Reader()
        # An unreadable Timestamp loses the moment, not the callback: the receipt time stands in.
        at = read.time(params.get("Timestamp"), "Timestamp")
        caller_side, business_side = ("To", "From") if leg.startswith("outbound-api") else ("From", "To")
        region = self.settings.default_region
        values: dict[str, Any] = {
            "provider_call_id": f.text(params.get("ParentCallSid")) or leg_sid,
            "kind": kind,
            "occurred_at": at,
            "account.id": f.text(params.get("AccountSid")),
            **self._call(params, status, leg, at, read),
            "caller.number": read.number(params.get(caller_side), caller_side, region),
            "caller.name": f.caller_name(params.get("CallerName")),
            "caller.city": _geo(params, caller_side, "City"),
            "caller.region": _geo(params, caller_side, "State"),
            # Without a country, assemble takes the number's.
            "caller.country": f.country_code(_geo(params, caller_side, "Country")),
            "caller.postal_code": _geo(params, caller_side, "Zip"),
            # The parent leg (or an API call) reaches the tracking number; a dial leg the business.
            "tracking_number": None
            if leg == "outbound-dial"
            else read.number(params.get(business_side), business_side, region),
            "business_number": read.number(params.get("To"), "To", region)
            if leg == "outbound-dial"
            else None,
            **{f"custom.{name}": f.text(params.get(key)) for name, key in _CUSTOM_KEYS.items()},
        }
        return [assemble(self.slug, values, received_at=request.received_at, warnings=read.warnings)]

    def _kind(self, params: Mapping[str, str], status: str | None) -> str:
        if status is None:
            return KIND_UPDATED  # a recording callback, after the call
        if f.text(params.get("DialCallStatus")) is not None:
            # A `<Dial action>` callback: the dialed conversation is over, whatever TwiML runs next.
            return KIND_COMPLETED
        return KIND_STARTED if status in _STARTED_STATUSES else KIND_COMPLETED

    def _call(
        self, params: Mapping[str, str], status: str | None, leg: str, at: datetime | None, read: Reader
    ) -> dict[str, Any]:
        dial_status = f.lower(params.get("DialCallStatus"))
        duration = read.seconds(params.get("CallDuration"), "CallDuration")
        talk_time = read.seconds(params.get("DialCallDuration"), "DialCallDuration")
        normalized_status = self._status(params, status, leg, dial_status)
        started_at = answered_at = ended_at = None
        total = None
        if status in ("queued", "initiated"):
            started_at = at
        elif status == "in-progress" and leg != "inbound":
            answered_at = at
        elif status is not None and status not in _STARTED_STATUSES:
            ended_at = at
            if leg == "inbound":
                # A parent leg's CallDuration runs from Twilio picking up, i.e. the whole call.
                total = duration
                started_at = f.shifted(at, None if duration is None else -duration)
            else:
                # A dialed leg's CallDuration runs from the callee (person or machine) answering.
                talk_time = f.first(talk_time, duration)
                if leg.startswith("outbound-api"):
                    # An API call is the whole call: its length is the call's (from the answer).
                    total = duration
                if normalized_status == "answered" and duration:
                    answered_at = f.shifted(at, -duration)
        direction = {"inbound": "inbound", "outbound-api": "outbound"}.get(leg)
        return {
            "call.started_at": started_at,
            "call.answered_at": answered_at,
            "call.ended_at": ended_at,
            "call.duration_s": total,
            "call.talk_time_s": talk_time,
            # A dial leg's direction is its parent's, which the parent leg's callbacks tell.
            "call.direction": direction,
            "call.status": normalized_status,
            "call.recording_url": f.text(params.get("RecordingUrl")),
        }

    def _status(
        self, params: Mapping[str, str], status: str | None, leg: str, dial_status: str | None
    ) -> str | None:
        if dial_status is not None:
            return "answered" if dial_status == "completed" else _STATUS.get(dial_status)
        if status == "completed":
            if (f.lower(params.get("AnsweredBy")) or "").startswith(("machine", "fax")):
                return "voicemail"
            # Twilio answers the parent leg itself, so its completion says nothing about a person
            # answering; the dial leg (or DialCallStatus) does.
            return None if leg == "inbound" else "answered"
        return _STATUS.get(status or "")


_CUSTOM_KEYS = {
    "call_sid": "CallSid",
    "parent_call_sid": "ParentCallSid",
    "call_status": "CallStatus",
    "leg_direction": "Direction",
    "sequence_number": "SequenceNumber",
    "callback_source": "CallbackSource",
    "sip_response_code": "SipResponseCode",
    "answered_by": "AnsweredBy",
    "forwarded_from": "ForwardedFrom",
    "dial_call_sid": "DialCallSid",
    "dial_call_status": "DialCallStatus",
    "recording_sid": "RecordingSid",
    "recording_duration": "RecordingDuration",
}


def _geo(params: Mapping[str, Any], side: str, part: str) -> str | None:
    # `FromCity` and `CallerCity` say the same; geo lookups are best effort and often blank.
    alias = "Caller" if side == "From" else "Called"
    return f.text(f.first(params.get(f"{side}{part}"), params.get(f"{alias}{part}")))
