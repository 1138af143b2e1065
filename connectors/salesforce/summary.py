"""The Task's Description for `description: call_summary`: where the call came from, one line each.

Labelled lines with empty ones left out are a rule a mapping's `join` cannot express, so it lives here.
"""

from __future__ import annotations

from hub.core.events import CallEvent

_MAX: int = 32000


def call_summary(call: CallEvent) -> str | None:
    attribution = call.attribution
    lines = [
        ("Source", attribution.source or attribution.utm_source),
        ("Medium", attribution.medium or attribution.utm_medium),
        ("Campaign", attribution.campaign or attribution.utm_campaign),
        ("Keyword", attribution.keyword or attribution.utm_term),
        ("Ad group", attribution.ad_group),
        ("Landing page", attribution.landing_page),
        ("Referrer", attribution.referrer),
        ("Tracking number", call.tracking_number),
        ("Recording", call.call.recording_url),
        ("Outcome", call.outcome.lead_status),
        ("Tags", ", ".join(call.outcome.tags) if call.outcome.tags else None),
        ("Notes", call.outcome.notes),
    ]
    text = "\n".join(f"{label}: {value}" for label, value in lines if value)
    return text[:_MAX] if text else None
