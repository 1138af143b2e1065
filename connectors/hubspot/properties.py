"""What the connector writes on top of the mapped fields: call outcome GUIDs, the attribution summary
in the call notes, the HTTPS-only recording URL, and the lifecycle stage rule (forward only)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hub.core.events import STATUSES, CallEvent

#: HubSpot's default call outcomes (label -> GUID); portals may add their own GUIDs.
DISPOSITIONS: dict[str, str] = {
    "busy": "9d9162e7-6cf3-4944-bf63-4dff82258764",
    "connected": "f240bbac-87c9-4f6e-bf70-924b57d47db7",
    "left live message": "a4c4c377-d246-4b32-a13b-75a56a4cd0ff",
    "left voicemail": "b2cf5968-551e-4856-9783-52b3da59a7d0",
    "no answer": "73a0d17f-1163-4015-bdd5-ec830791da20",
    "wrong number": "17b47fee-58de-441e-a44c-c6300d46f273",
}
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
#: Used when a calls mapping sets no `dispositions` option: call status -> outcome label.
DEFAULT_DISPOSITION_MAP: dict[str, str] = {
    "answered": "connected",
    "missed": "no answer",
    "voicemail": "left voicemail",
    "busy": "busy",
}
LIFECYCLE_ORDER = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
)
_ATTRIBUTION_LINES = (
    ("Source", "source"),
    ("Medium", "medium"),
    ("Campaign", "campaign"),
    ("Keyword", "keyword"),
    ("Ad group", "ad_group"),
    ("Landing page", "landing_page"),
    ("Referrer", "referrer"),
    ("GCLID", "gclid"),
)


def as_text(value: Any) -> str | None:
    """HubSpot property values travel as strings; None (no value) is left out."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ";".join(str(item) for item in value)
    return str(value)


def text_properties(fields: Mapping[str, Any]) -> dict[str, str]:
    return {name: text for name, value in fields.items() if (text := as_text(value)) is not None}


def disposition_guid(value: str) -> str | None:
    """A label ("Connected", any case) or a portal's own GUID -> the GUID HubSpot stores."""
    if GUID.match(value):
        return value.lower()
    return DISPOSITIONS.get(value.strip().lower())


def disposition_problems(mapping: Any) -> list[str]:
    if not isinstance(mapping, Mapping):
        return ["dispositions must map a call status to an outcome label or GUID"]
    problems = []
    for status, outcome in mapping.items():
        if status not in STATUSES:
            problems.append(f"dispositions: {status!r} is not a call status ({', '.join(STATUSES)})")
        if not isinstance(outcome, str) or disposition_guid(outcome) is None:
            labels = ", ".join(sorted(DISPOSITIONS))
            problems.append(
                f"dispositions.{status}: {outcome!r} is neither an outcome GUID nor one of: {labels}"
            )
    return problems


def attribution_summary(call: CallEvent) -> str:
    """Lines for the call notes, so the marketing source shows on the timeline itself."""
    lines = [
        f"{label}: {value}"
        for label, name in _ATTRIBUTION_LINES
        if (value := getattr(call.attribution, name, None))
    ]
    if call.tracking_number:
        lines.append(f"Tracking number: {call.tracking_number}")
    return "\n".join(lines)


def call_properties(fields: Mapping[str, Any], options: Mapping[str, Any], call: CallEvent) -> dict[str, str]:
    """The calls record's fields completed with outcome, notes and timestamp, and cleaned for HubSpot."""
    properties = text_properties(fields)
    if "hs_call_disposition" not in properties and call.call.status:
        label = dict(options.get("dispositions") or DEFAULT_DISPOSITION_MAP).get(call.call.status)
        guid = disposition_guid(label) if isinstance(label, str) else None
        if guid:
            properties["hs_call_disposition"] = guid
    elif "hs_call_disposition" in properties:
        guid = disposition_guid(properties["hs_call_disposition"])
        if guid:
            properties["hs_call_disposition"] = guid
    if options.get("attribution_in_body", True):
        summary = attribution_summary(call)
        if summary:
            body = properties.get("hs_call_body", "")
            properties["hs_call_body"] = f"{body}\n\n{summary}" if body else summary
    recording = properties.get("hs_call_recording_url")
    if recording is not None and not recording.lower().startswith("https://"):
        # HubSpot accepts HTTPS recordings only; a plain-HTTP link would fail the whole call.
        del properties["hs_call_recording_url"]
    if "hs_timestamp" not in properties:
        moment = call.call.started_at or call.occurred_at
        properties["hs_timestamp"] = moment.isoformat().replace("+00:00", "Z")
    return properties


def stage_allowed(current: str | None, wanted: str) -> bool:
    """Whether writing `wanted` keeps the lifecycle stage where it is or moves it forward."""
    if not current:
        return True
    if current in LIFECYCLE_ORDER and wanted in LIFECYCLE_ORDER:
        return LIFECYCLE_ORDER.index(wanted) > LIFECYCLE_ORDER.index(current)
    # A custom stage (or "other") has no known rank: leave what a person set.
    return False
