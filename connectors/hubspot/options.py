"""The HubSpot destination's options (hub.yaml) and mapping options, checked before start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers

from connectors.hubspot.properties import disposition_problems

DUPLICATE_POLICIES = ("most_recent", "hold")
CALL_IDEMPOTENCY_MODES = ("auto", "unique_property", "search")
DESTINATION_KEYS = {
    "duplicates": "what to do when several contacts hold the caller's number: most_recent | hold",
    "default_region": "region for numbers written without a country code (ISO 3166, e.g. US)",
    "contact_key_property": "unique contact property keyed by the caller's E.164 number",
    "call_key_property": "call property keyed by the hub's call id (unique values when the portal allows)",
    "call_idempotency": "auto (default: ask the portal) | unique_property (upsert) | search (look, then create)",
    "search_lag_s": "seconds HubSpot's search index may lag behind a create (search mode; default 60)",
    "max_in_values": "most values one search IN filter may carry",
}
CONTACT_MAPPING_KEYS = {"duplicates", "create_only"}
CALL_MAPPING_KEYS = {"dispositions", "attribution_in_body"}
TARGETS = ("contacts", "calls")


@dataclass(frozen=True)
class HubSpotOptions:
    duplicates: str = "most_recent"
    default_region: str = "US"
    contact_key_property: str = "callhub_caller_e164"
    call_key_property: str = "callhub_call_id"
    max_in_values: int = 100
    call_idempotency: str = "auto"
    search_lag_s: float = 60.0

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> HubSpotOptions:
        known = {k: v for k, v in options.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def destination_problems(options: Mapping[str, Any]) -> list[str]:
    problems = [
        f"unknown HubSpot option {key!r}; known: {', '.join(sorted(DESTINATION_KEYS))}"
        for key in options
        if key not in DESTINATION_KEYS
    ]
    if options.get("duplicates", "most_recent") not in DUPLICATE_POLICIES:
        problems.append(f"duplicates must be one of {', '.join(DUPLICATE_POLICIES)}")
    region = options.get("default_region", "US")
    if region not in phonenumbers.SUPPORTED_REGIONS:
        problems.append(f"default_region {region!r} is not a region phonenumbers knows (e.g. US, GB)")
    for key in ("contact_key_property", "call_key_property"):
        value = options.get(key, "x")
        if not isinstance(value, str) or not value:
            problems.append(f"{key} must be a property name")
    if options.get("call_idempotency", "auto") not in CALL_IDEMPOTENCY_MODES:
        problems.append(f"call_idempotency must be one of {', '.join(CALL_IDEMPOTENCY_MODES)}")
    lag = options.get("search_lag_s", 60.0)
    if not isinstance(lag, (int, float)) or isinstance(lag, bool) or not 0 <= lag <= 3600:
        problems.append("search_lag_s must be a number of seconds from 0 to 3600")
    max_in = options.get("max_in_values", 100)
    if not isinstance(max_in, int) or isinstance(max_in, bool) or not 2 <= max_in <= 100:
        problems.append("max_in_values must be an integer from 2 to 100")
    return problems


def mapping_problems(target: str, options: Mapping[str, Any]) -> list[str]:
    if target not in TARGETS:
        return [f"HubSpot mappings write `object: contacts` or `object: calls`, not {target!r}"]
    allowed = CONTACT_MAPPING_KEYS if target == "contacts" else CALL_MAPPING_KEYS
    problems = [
        f"unknown option {key!r} for HubSpot {target}; known: {', '.join(sorted(allowed))}"
        for key in options
        if key not in allowed
    ]
    if "duplicates" in options and options["duplicates"] not in DUPLICATE_POLICIES:
        problems.append(f"duplicates must be one of {', '.join(DUPLICATE_POLICIES)}")
    create_only = options.get("create_only", [])
    if not isinstance(create_only, list) or not all(isinstance(name, str) for name in create_only):
        problems.append("create_only must be a list of property names")
    if "dispositions" in options:
        problems.extend(disposition_problems(options["dispositions"]))
    if not isinstance(options.get("attribution_in_body", True), bool):
        problems.append("attribution_in_body must be true or false")
    return problems
