"""How the fake checks property values on write, the way HubSpot answers VALIDATION_ERROR."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.hubspot.fake.catalogue import DEFAULT_DISPOSITIONS, PropertyDef
from connectors.hubspot.fake.errors import RecordError

_DISPOSITION_IDS = frozenset(DEFAULT_DISPOSITIONS.values())


def as_text(value: Any) -> str:
    """HubSpot stores and returns every property value as a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_moment(text: str) -> datetime | None:
    """A datetime property value: Unix milliseconds or ISO 8601."""
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _problem(definition: PropertyDef, text: str, owner_ids: frozenset[str]) -> tuple[str, str] | None:
    name = definition.name
    if definition.read_only:
        return "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.'
    if text == "":
        return None
    if name == "hs_call_disposition":
        if text not in _DISPOSITION_IDS:
            return "INVALID_OPTION", f"{text} was not one of the allowed call outcomes."
        return None
    if name == "hubspot_owner_id":
        return None if text in owner_ids else ("INVALID_OWNER_ID", f"{text} is not a valid owner id.")
    if definition.options and text not in definition.options:
        allowed = ", ".join(definition.options)
        return "INVALID_OPTION", f"{text} was not one of the allowed options: [{allowed}]"
    if definition.type == "number":
        try:
            Decimal(text)
        except InvalidOperation:
            return "INVALID_INTEGER", f"{text} is not a valid number."
    if definition.type == "datetime" and parse_moment(text) is None:
        return "INVALID_DATE", f"{text} is not a valid datetime."
    if name == "email" and "@" not in text:
        return "INVALID_EMAIL", "Email address is invalid."
    if name == "hs_call_recording_url" and not text.startswith("https://"):
        return "INVALID_URL", "Recording URLs must use HTTPS."
    return None


def check_properties(
    object_type: str,
    properties: Mapping[str, Any],
    catalogue: Mapping[str, PropertyDef],
    owner_ids: frozenset[str],
    context: Mapping[str, list[str]],
) -> dict[str, str]:
    """The values as stored strings; raises one RecordError listing every invalid property."""
    problems: list[dict[str, Any]] = []
    stored: dict[str, str] = {}
    for name, value in properties.items():
        definition = catalogue.get(name)
        text = as_text(value)
        if definition is None:
            problems.append(
                {
                    "isValid": False,
                    "message": f'Property "{name}" does not exist',
                    "error": "PROPERTY_DOESNT_EXIST",
                    "name": name,
                }
            )
            continue
        problem = _problem(definition, text, owner_ids)
        if problem is not None:
            problems.append({"isValid": False, "message": problem[1], "error": problem[0], "name": name})
            continue
        stored[name] = text
    if problems:
        listing = json.dumps(problems, separators=(",", ":"))
        raise RecordError(
            "VALIDATION_ERROR",
            f"Property values were not valid: {listing}",
            context=context,
            details=[
                {"message": p["message"], "code": p["error"], "context": {"propertyName": [p["name"]]}}
                for p in problems
            ],
        )
    return stored
