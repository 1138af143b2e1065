"""What each path into the normalized event holds: its value kind, its vocabulary, a description.

Kinds are derived from the dataclass annotations in `hub.core.events`, so a new event field gets a kind
without touching this module; only its one-line description (checked by a test) must be added.
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, Final, Literal

from hub.core import events

Kind = Literal["text", "integer", "number", "boolean", "datetime", "list", "any"]

#: Kinds that compare as numbers (`gte` / `lte`, `minutes`, `number`).
NUMERIC_KINDS: Final = frozenset({"integer", "number"})

#: Closed vocabularies of the normalized event: a condition or map key outside them never matches.
VOCABULARIES: Final[dict[str, tuple[str, ...]]] = {
    "kind": events.KINDS,
    "call.status": events.STATUSES,
    "call.direction": events.DIRECTIONS,
    "attribution.dni_type": events.DNI_TYPES,
}

DESCRIPTIONS: Final[dict[str, str]] = {
    "provider": "Provider slug that produced the event (`callrail`, `twilio`, ...).",
    "provider_call_id": "The provider's id of the call; ties the versions of one call together.",
    "kind": "What happened: `call.started`, `call.completed`, `call.updated` or `unknown`.",
    "occurred_at": "When the provider says this happened (UTC).",
    "id": "The hub's stable id of this event (`evt_...`).",
    "source": "The hub.yaml source the webhook arrived on.",
    "tracking_number": "The tracking number the caller dialled (E.164).",
    "business_number": "The number the call was forwarded to (E.164).",
    "warnings": "What the provider sent that could not be read (a list of text), e.g. an unreadable time.",
    "account.id": "The provider account or company id.",
    "account.name": "The provider account or company name.",
    "call.started_at": "When the call started ringing (UTC).",
    "call.answered_at": "When the call was answered (UTC).",
    "call.ended_at": "When the call ended (UTC).",
    "call.duration_s": "Total call length in seconds, ringing included where the provider counts it.",
    "call.talk_time_s": "Seconds of conversation after answer.",
    "call.direction": "`inbound` or `outbound`.",
    "call.status": "`ringing`, `in_progress`, `answered`, `missed`, `voicemail`, `busy` or `failed`.",
    "call.first_call": "True when this caller has not called before (per the provider).",
    "call.spam": "True when the provider flagged the call as spam.",
    "call.recording_url": "Link to the call recording.",
    "call.transcript": "Transcript text, when the provider sends one.",
    "caller.number": "The caller's number (E.164); absent when withheld.",
    "caller.name": "Caller name (caller id or as entered by the business).",
    "caller.email": "Caller email, when a form or agent captured one.",
    "caller.city": "Caller city (from caller id or the form).",
    "caller.region": "Caller state or region.",
    "caller.country": "Caller country, ISO 3166 alpha-2.",
    "caller.postal_code": "Caller postal code.",
    "attribution.dni_type": "How the number was assigned: `url`, `source`, `session` or `static`.",
    "attribution.source": "Marketing source (`google`, `bing`, `direct`, an offline source name).",
    "attribution.medium": "Marketing medium (`cpc`, `organic`, `referral`, ...).",
    "attribution.campaign": "Campaign name.",
    "attribution.keyword": "Search keyword or ad term.",
    "attribution.ad_group": "Ad group name.",
    "attribution.ad": "Ad name or id.",
    "attribution.landing_page": "URL of the page where the visitor saw the number.",
    "attribution.referrer": "Referring URL of the visit.",
    "attribution.gclid": "Google Ads click id.",
    "attribution.gbraid": "Google Ads app-to-web click id (iOS).",
    "attribution.wbraid": "Google Ads web-to-app click id (iOS).",
    "attribution.fbclid": "Meta click id.",
    "attribution.msclkid": "Microsoft Ads click id.",
    "attribution.utm_source": "`utm_source` of the landing page.",
    "attribution.utm_medium": "`utm_medium` of the landing page.",
    "attribution.utm_campaign": "`utm_campaign` of the landing page.",
    "attribution.utm_term": "`utm_term` of the landing page.",
    "attribution.utm_content": "`utm_content` of the landing page.",
    "attribution.ga_client_id": "GA4 client id of the visitor (`1197596843.1673515099`).",
    "attribution.ga_session_id": "GA4 session id of the visit.",
    "attribution.visitor_ip": "IP address of the visitor.",
    "outcome.qualified": "True when the business marked the call as a qualified lead.",
    "outcome.lead_status": "The provider's lead status (e.g. `good_lead`, `not_a_lead`).",
    "outcome.value": "Monetary value assigned to the call (a decimal).",
    "outcome.currency": "Currency of `outcome.value`, ISO 4217.",
    "outcome.tags": "Tags on the call (a list of text).",
    "outcome.notes": "Notes about the call.",
    "outcome.agent": "The agent who took the call.",
}

CUSTOM_PREFIX: Final = "custom."


def _kind_of(annotation: Any) -> Kind:
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    base = args[0] if is_union and len(args) == 1 else annotation
    if typing.get_origin(base) in (tuple, list):
        return "list"
    if base is bool:
        return "boolean"
    if base is int:
        return "integer"
    if base is Decimal:
        return "number"
    if base is datetime:
        return "datetime"
    if base is str:
        return "text"
    return "any"


@cache
def path_kinds() -> dict[str, Kind]:
    """Every known path with the kind of value it holds, in `known_paths()` order."""
    event_hints = typing.get_type_hints(events.CallEvent)
    kinds: dict[str, Kind] = {}
    for path in events.known_paths():
        head, _, rest = path.partition(".")
        annotation = event_hints[head]
        if rest:
            annotation = typing.get_type_hints(annotation)[rest]
        kinds[path] = _kind_of(annotation)
    return kinds


def kind_of_path(path: str) -> Kind | None:
    """The kind at `path`, "any" for `custom.<key>`, None when the path does not exist."""
    if path.startswith(CUSTOM_PREFIX) and len(path) > len(CUSTOM_PREFIX):
        return "any"
    return path_kinds().get(path)
