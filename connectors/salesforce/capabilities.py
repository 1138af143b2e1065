"""What `hub check --online` reports about the org: the capabilities the connector relies on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.salesforce.picklists import read_codes


def external_ids(describe: Mapping[str, Any], *, unique_only: bool = False) -> list[str]:
    """Custom External ID fields of an object (the caller key and call id fields live there)."""
    return sorted(
        str(f["name"])
        for f in describe.get("fields") or []
        if isinstance(f, Mapping) and f.get("externalId") and (f.get("unique") or not unique_only)
    )


def describe_org(
    lead: Mapping[str, Any], task: Mapping[str, Any], rules: list[dict[str, Any]] | None
) -> list[str]:
    """One line per capability, from the Lead and Task describes and the active duplicate rules."""
    codes = read_codes(lead)
    lines = [
        "State and Country/Territory picklists: "
        + (
            "on (addresses written to StateCode/CountryCode)" if codes.enabled else "off (State/Country text)"
        ),
        "Lead unique External ID fields (for key_field): "
        + (", ".join(external_ids(lead, unique_only=True)) or "none"),
        "Task External ID fields (for call_id_field): " + (", ".join(external_ids(task)) or "none"),
    ]
    if rules is None:
        lines.append("duplicate rules: not readable by this user (needs View Setup)")
    else:
        active = sorted(f"{r.get('DeveloperName')} ({r.get('SobjectType')})" for r in rules)
        lines.append("active duplicate rules: " + (", ".join(active) or "none"))
    return lines
