"""WhatConverts lead webhooks ("New Lead" / "Update Lead" for phone-call leads).

WhatConverts signs nothing and sends no custom headers, so the webhook URL carries the source's
secret as `?token=`. Leads of other types (forms, chats, ...) are not calls: they are recorded
as ignored, with their type, and never delivered as calls. The lead type is spelled "Phone Call"
in webhooks and `phone_call` in the API and automation platforms; both are calls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from hub.core import events, fields
from hub.core.errors import NotACall, ParseError
from webhooks.assemble import Reader, assemble, source_currency
from webhooks.auth import AuthRecipe, RecipeAuth, TokenAuth
from webhooks.base import InboundRequest, Provider

_STATUS = {
    "answered": "answered",
    "missed": "missed",
    "not answered": "missed",
    "no answer": "missed",
    "unanswered": "missed",
    "abandoned": "missed",
    "voicemail": "voicemail",
    "busy": "busy",
    "failed": "failed",
    "in progress": "in_progress",
}
_UPDATE_TRIGGERS = {"update", "updated", "update lead", "modified"}
# `lead_status` says whether the caller is new to this profile.
_FIRST_CALL = {"unique": True, "repeat": False, "duplicate": False}
_QUOTABLE = {"yes": True, "no": False}
_CUSTOM_KEYS = (
    "lead_type",
    "lead_status",
    "lead_score",
    "lead_url",
    "user_id",
    "phone_name",
    "line_type",
    "device_type",
    "device_make",
    "browser",
    "operating_system",
    "spotted_keywords",
    "quotable",
    "quote_value",
    "sales_value",
    "duplicate",
    "account_id",
    "account",
)


class WhatConvertsProvider(RecipeAuth, Provider):
    slug: ClassVar[str] = "whatconverts"
    name: ClassVar[str] = "WhatConverts"
    recipe: AuthRecipe = TokenAuth(query="token")
    auth: ClassVar[str] = recipe.describe()
    uses_token = True

    def parse(self, request: InboundRequest) -> list[events.CallEvent]:
        lead = request.json_object()
        lead_type = fields.text(lead.get("lead_type"))
        if lead_type is not None and _words(lead_type) != "phone call":
            raise NotACall(f"WhatConverts lead of type {lead_type[:40]!r} is not a phone call")
        lead_id = fields.text(lead.get("lead_id"))
        if lead_id is None:
            raise ParseError("no lead_id in the WhatConverts lead")
        read = Reader()
        values = {"provider_call_id": lead_id, **self._call(lead, read), **self._people(lead, read)}
        values |= self._attribution(lead) | self._outcome(lead, read) | self._custom(lead)
        return [assemble(self.slug, values, received_at=request.received_at, warnings=read.warnings)]

    def _call(self, lead: Mapping[str, Any], read: Reader) -> dict[str, Any]:
        duration = fields.first(
            read.seconds(lead.get("call_duration_seconds"), "call_duration_seconds"),
            read.seconds(lead.get("call_duration"), "call_duration"),
        )
        created = read.time(lead.get("date_created"), "date_created")
        updated = read.time(lead.get("last_updated"), "last_updated")
        kind = _kind(lead, duration, created, updated)
        status_words = (lead.get("answer_status"), lead.get("call_status"), lead.get("lead_state"))
        statuses = [_STATUS.get(fields.lower(word) or "") for word in status_words]
        return {
            "kind": kind,
            "occurred_at": fields.first(updated, created),
            "call.started_at": created,
            # WhatConverts tracks calls to its tracking numbers: phone-call leads are inbound.
            "call.direction": "inbound",
            "call.status": fields.first(*statuses),
            "call.duration_s": duration,
            "call.first_call": _FIRST_CALL.get(fields.lower(lead.get("lead_status")) or ""),
            "call.spam": fields.boolean(lead.get("spam")),
            "call.recording_url": fields.text(
                fields.first(lead.get("recording"), lead.get("play_recording"))
            ),
            "call.transcript": fields.text(lead.get("call_transcription")),
        }

    def _people(self, lead: Mapping[str, Any], read: Reader) -> dict[str, Any]:
        region = self.settings.default_region
        country = fields.country_code(fields.first(lead.get("caller_country"), lead.get("country")))
        # A caller's number in national format belongs to the caller's country, when known.
        caller_region = country or region
        return {
            # The profile is the business the call was for; the account is the agency above it.
            "account.id": fields.text(lead.get("profile_id")),
            "account.name": fields.text(lead.get("profile")),
            "caller.number": fields.first(
                read.number(lead.get("caller_number"), "caller_number", caller_region),
                read.number(lead.get("contact_phone_number"), "contact_phone_number", caller_region),
            ),
            # The contact name is typed by people; caller_name is the carrier's CNAM.
            "caller.name": fields.caller_name(
                fields.first(lead.get("contact_name"), lead.get("caller_name"))
            ),
            "caller.email": fields.text(lead.get("contact_email_address")),
            "caller.city": fields.text(fields.first(lead.get("caller_city"), lead.get("city"))),
            "caller.region": fields.text(fields.first(lead.get("caller_state"), lead.get("state"))),
            "caller.country": country,
            "caller.postal_code": fields.text(lead.get("zip")),
            "tracking_number": read.number(lead.get("tracking_number"), "tracking_number", region),
            "business_number": read.number(lead.get("destination_number"), "destination_number", region),
        }

    def _attribution(self, lead: Mapping[str, Any]) -> dict[str, Any]:
        values = {
            "attribution.source": fields.text(lead.get("lead_source")),
            "attribution.medium": fields.text(lead.get("lead_medium")),
            "attribution.campaign": fields.text(lead.get("lead_campaign")),
            "attribution.keyword": fields.text(lead.get("lead_keyword")),
            # WhatConverts fills "Content" from utm_content, conventionally the ad variant.
            "attribution.ad": fields.text(lead.get("lead_content")),
            "attribution.landing_page": fields.text(lead.get("landing_url")),
            "attribution.visitor_ip": fields.text(lead.get("ip_address")),
            # The documented webhook spells these out; the API and older payloads use the short names.
            "attribution.ga_client_id": fields.ga_client_id(
                fields.first(lead.get("google_analytics_client_id"), lead.get("ga_client_id"))
            ),
            "attribution.ga_session_id": fields.ga_session_id(
                fields.first(lead.get("google_analytics_session_id"), lead.get("ga_session_id"))
            ),
        }
        for key in fields.CLICK_ID_KEYS + fields.UTM_KEYS:
            names = _ALIASES.get(key, (key,))
            values[f"attribution.{key}"] = _click_id(key, fields.first(*(lead.get(name) for name in names)))
        return values

    def _outcome(self, lead: Mapping[str, Any], read: Reader) -> dict[str, Any]:
        value = read.money(fields.first(lead.get("sales_value"), lead.get("quote_value")), "sales_value")
        return {
            "outcome.qualified": _QUOTABLE.get(fields.lower(lead.get("quotable")) or ""),
            "outcome.value": value,
            "outcome.currency": source_currency(self.settings.options, value),
            "outcome.notes": fields.text(lead.get("notes")),
        }

    def _custom(self, lead: Mapping[str, Any]) -> dict[str, Any]:
        values = {f"custom.{key}": _kept(lead.get(key)) for key in _CUSTOM_KEYS}
        analysis = lead.get("lead_analysis")
        if isinstance(analysis, Mapping):
            values["custom.lead_analysis"] = {
                k: v for k, v in analysis.items() if fields.first(v) is not None
            }
        values["custom.additional_fields"] = _additional_fields(lead.get("additional_fields"))
        return values


def _kind(
    lead: Mapping[str, Any], duration: int | None, created: datetime | None, updated: datetime | None
) -> str:
    """The webhook's trigger and lead state say it; an API-shaped lead (no state) tells by its facts."""
    trigger = fields.lower(lead.get("trigger"))
    state = _words(fields.text(lead.get("lead_state")) or "")
    if trigger in _UPDATE_TRIGGERS:
        return events.KIND_UPDATED
    if state == "in progress":
        return events.KIND_STARTED
    if state == "completed":
        return events.KIND_COMPLETED
    if state:
        return events.KIND_UNKNOWN
    if duration is not None:
        # The call's length is known only once it ended.
        return events.KIND_COMPLETED
    if created is not None and updated is not None and updated > created:
        # A lead snapshot edited after the call (a quote, a sale): an update of that call.
        return events.KIND_UPDATED
    return events.KIND_UNKNOWN


# Meta's `_fbc` cookie form: fb.<subdomain index>.<creation ms>.<fbclid>.
_FBC = re.compile(r"^fb\.\d\.\d+\.(.+)$")


def _click_id(key: str, value: Any) -> str | None:
    found = fields.text(value)
    if key == "fbclid" and found is not None:
        match = _FBC.match(found)
        return match.group(1) if match else found
    return found


_ALIASES = {
    "gclid": ("gclid", "google_click_id"),
    "fbclid": ("fbclid", "facebook_click_id"),
    "msclkid": ("msclkid", "microsoft_click_id", "bing_click_id"),
}


def _words(value: str) -> str:
    """`Phone Call`, `phone_call` and `phone-call` alike."""
    return " ".join(value.lower().replace("_", " ").replace("-", " ").split())


def _kept(value: Any) -> Any:
    return value.strip() or None if isinstance(value, str) else value


def _additional_fields(value: Any) -> dict[str, Any]:
    """`[{"field_name": n, "field_value": v}]` (or an object) as `{n: v}`."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, list):
        return {}
    result = {}
    for item in value:
        if isinstance(item, Mapping) and fields.text(item.get("field_name")):
            result[str(item["field_name"])] = item.get("field_value")
    return result
