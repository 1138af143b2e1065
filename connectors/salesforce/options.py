"""The Salesforce destination's options (hub.yaml) and per-mapping options, validated in one place."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

POLICIES: Final = ("most_recent", "hold")
TARGETS: Final = ("Lead", "Contact", "Task", "CampaignMember")
#: Lower-case field names in a mapping are read by the connector and never sent to Salesforce
#: (Salesforce API names are CamelCase or end in __c, so they cannot collide).
OWNER_EMAIL: Final = "owner_email"
CAMPAIGN_NAME: Final = "campaign_name"
AUTH_FLOWS: Final = ("jwt", "client_credentials", "oauth_password", "soap")
SOAP_NOTE: Final = (
    "SOAP API login() is disabled by default in new Salesforce orgs, gone from API 65.0 and retires "
    "in Summer '27 (help article 005132110): move to auth: jwt (or client_credentials)"
)
_VERSION: Final = re.compile(r"^\d{2,3}\.0$")
_ID: Final = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")
#: A Salesforce field API name: the only shape a name put into SOQL may have.
API_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

_MAPPING_OPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "Lead": ("create_only", "key_field"),
    "Contact": ("create_only",),
    "Task": ("call_id_field", "description"),
    "CampaignMember": (),
}


@dataclass(frozen=True)
class Options:
    domain: str = "login"
    #: REST API version: a current one (Summer '25); any supported version (31.0 and later) works.
    api_version: str = "64.0"
    #: Login flow: jwt, client_credentials, oauth_password or soap; unset: from the credentials (never soap).
    auth: str | None = None
    #: Several Contacts (or Leads) match one caller: update the most recently modified, or hold.
    on_multiple_matches: str = "most_recent"
    #: Owner of new Leads when the call's agent is not a Salesforce user (a User or Queue id).
    default_owner_id: str | None = None
    #: Share of the org's daily API allocation left to other integrations.
    reserve_share: float = 0.2
    #: How long to wait before trying again once the hub's share is used up.
    limit_backoff_s: float = 900.0
    #: Region for reading numbers stored without a country code ("(470) 555-0183").
    default_region: str = "US"

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Options:
        return cls(**{key: raw[key] for key in cls.__dataclass_fields__ if key in raw})


def option_problems(raw: Mapping[str, Any]) -> list[str]:
    problems = [f"unknown option {key!r}" for key in raw if key not in Options.__dataclass_fields__]
    if raw.get("on_multiple_matches", "most_recent") not in POLICIES:
        problems.append(f"on_multiple_matches must be one of {', '.join(POLICIES)}")
    share = raw.get("reserve_share", 0.2)
    if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 <= share < 1:
        problems.append("reserve_share must be a number from 0 up to (not including) 1")
    owner = raw.get("default_owner_id")
    if owner is not None and not (isinstance(owner, str) and _ID.match(owner)):
        problems.append("default_owner_id must be a 15- or 18-character Salesforce id (User or Queue)")
    backoff = raw.get("limit_backoff_s", 900)
    if not isinstance(backoff, (int, float)) or isinstance(backoff, bool) or backoff <= 0:
        problems.append("limit_backoff_s must be a positive number of seconds")
    region = raw.get("default_region", "US")
    if not (isinstance(region, str) and len(region) == 2 and region.isalpha() and region.isupper()):
        problems.append("default_region must be a two-letter region code such as US")
    for key in ("domain", "api_version"):
        if key in raw and not isinstance(raw[key], str):
            problems.append(f"{key} must be a string")
    version = raw.get("api_version", "64.0")
    if isinstance(version, str) and not _VERSION.match(version):
        problems.append("api_version must look like 64.0")
    elif isinstance(version, str) and float(version) < 31:
        problems.append("api_version: Salesforce retired versions 30.0 and lower; use a current one (64.0)")
    if raw.get("auth") is not None and raw.get("auth") not in AUTH_FLOWS:
        problems.append(f"auth must be one of {', '.join(AUTH_FLOWS)}")
    return problems


def option_notes(raw: Mapping[str, Any]) -> list[str]:
    """Warnings about settings that work today but will not for long."""
    return [f"auth: soap: {SOAP_NOTE}"] if raw.get("auth") == "soap" else []


def mapping_problems(target: str, options: Mapping[str, Any]) -> list[str]:
    if target not in TARGETS:
        return [f"Salesforce mappings write {', '.join(TARGETS)}; {target!r} is not supported"]
    allowed = _MAPPING_OPTIONS[target]
    problems = [f"unknown option {key!r} for {target} (known: {', '.join(allowed) or 'none'})"
                for key in options if key not in allowed]  # fmt: skip
    create_only = options.get("create_only", [])
    if not (isinstance(create_only, list) and all(isinstance(n, str) for n in create_only)):
        problems.append("create_only must be a list of field names")
    field = options.get("call_id_field")
    if field is not None and not (isinstance(field, str) and API_NAME.match(field)):
        problems.append("call_id_field must be a field API name such as Call_Tracking_Id__c")
    if target == "Task" and field is None:
        # Without it a Task is found again only through the hub's own note of its id: a call
        # retried after a lost answer could be logged twice.
        problems.append(
            "options.call_id_field: a Task mapping needs an External ID field for the call id "
            "(e.g. call_id_field: Call_Tracking_Id__c) so a call is never logged twice"
        )
    key = options.get("key_field")
    if key is not None and not (isinstance(key, str) and API_NAME.match(key)):
        problems.append("key_field must be a field API name such as Callhub_Caller_E164__c")
    if options.get("description", "call_summary") != "call_summary":
        problems.append("description must be call_summary (or left out)")
    return problems


#: Custom field types the sandbox org accepts (hub.yaml `sandbox: custom_fields:`), with default lengths.
CUSTOM_TYPES: Final = {
    "string": 255, "textarea": 32768, "email": 80, "phone": 40, "url": 255, "picklist": 255,
    "boolean": 0, "int": 0, "double": 0, "currency": 0, "percent": 0, "date": 0, "datetime": 0,
}  # fmt: skip
SANDBOX_KEYS: Final = ("custom_fields", "picklists", "soap_login", "duplicate_key")
_FIELD_KEYS: Final = ("type", "length", "values", "restricted", "external_id", "unique", "required")


def sandbox_problems(raw: Mapping[str, Any]) -> list[str]:
    """Problems with `sandbox:`: the shape of the local fake org (custom fields, Setup switches)."""
    problems = [
        f"unknown key {key!r} (known: {', '.join(SANDBOX_KEYS)})" for key in raw if key not in SANDBOX_KEYS
    ]
    for key in ("picklists", "soap_login"):
        if key in raw and not isinstance(raw[key], bool):
            problems.append(f"{key} must be true or false")
    if raw.get("duplicate_key", "duplicateResult") not in ("duplicateResult", "duplicateResut"):
        problems.append("duplicate_key must be duplicateResult or duplicateResut")
    custom = raw.get("custom_fields", {})
    if not isinstance(custom, Mapping):
        return [*problems, "custom_fields maps Lead, Contact or Task to {Field__c: {type: ...}}"]
    for sobject, fields in custom.items():
        if sobject not in ("Lead", "Contact", "Task") or not isinstance(fields, Mapping):
            problems.append(
                f"custom_fields: {sobject!r} must be Lead, Contact or Task, with a mapping of fields"
            )
            continue
        for name, spec in fields.items():
            spec = spec if isinstance(spec, Mapping) else {"type": spec}
            kind = "string" if spec.get("type", "string") == "text" else spec.get("type", "string")
            if not (isinstance(name, str) and name.endswith("__c") and API_NAME.match(name)):
                problems.append(f"custom_fields: {sobject}.{name}: a custom field's API name ends in __c")
            if kind not in CUSTOM_TYPES:
                problems.append(
                    f"custom_fields: {sobject}.{name}: type must be one of {', '.join(CUSTOM_TYPES)}"
                )
            problems.extend(
                f"custom_fields: {sobject}.{name}: unknown key {key!r}"
                for key in spec
                if key not in _FIELD_KEYS
            )
    return problems
