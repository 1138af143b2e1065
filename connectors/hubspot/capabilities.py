"""What the portal offers that the connector relies on, asked once and remembered for a while.

HubSpot lets contacts, companies, deals, tickets and custom objects have unique-value
properties (https://developers.hubspot.com/changelog/unique-properties-for-contacts and the
properties API's `hasUniqueValue`); its documentation does not list calls, and a portal may
refuse one. The call writer therefore asks the portal whether the call key property is unique:
if it is, calls are upserted on it; if not, they are found by search and created otherwise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

from connectors.base import ConnectorContext, PermanentError
from connectors.hubspot.contacts import LAST_CALL_PROPERTY
from connectors.hubspot.errors import classify, is_api_exception
from connectors.hubspot.options import HubSpotOptions

UNIQUE_PROPERTY: Final = "unique_property"
SEARCH: Final = "search"
STATE_KEY: Final = "portal:call_key_mode"
#: A portal's properties change rarely; ask again after this long (an admin may add one).
RECHECK_S: Final = 3600.0


@dataclass(frozen=True)
class PropertyFacts:
    """One property as the portal describes it: absent, plain, or with unique values."""

    exists: bool
    unique: bool = False


def property_facts(api: Any, object_type: str, name: str) -> PropertyFacts:
    """The portal's answer for one property (404 means absent); other failures raise."""
    try:
        definition = api.property(object_type, name)
    except Exception as exc:
        if is_api_exception(exc) and getattr(exc, "status", None) == 404:
            return PropertyFacts(exists=False)
        raise
    return PropertyFacts(exists=True, unique=bool(definition.has_unique_value))


def mode_for(facts: PropertyFacts) -> str:
    return UNIQUE_PROPERTY if facts.unique else SEARCH


def call_key_mode(api: Any, context: ConnectorContext, options: HubSpotOptions) -> str:
    """How calls are written without duplicates: `unique_property` or `search`."""
    if options.call_idempotency != "auto":
        return options.call_idempotency
    remembered = context.get_state(STATE_KEY) or {}
    if remembered.get("mode") and time.time() - float(remembered.get("at", 0)) < RECHECK_S:
        return str(remembered["mode"])
    try:
        facts = property_facts(api, "calls", options.call_key_property)
    except Exception as exc:
        raise classify(exc) from exc
    if not facts.exists:
        raise PermanentError(
            f"the calls property {options.call_key_property!r} does not exist: create it "
            "(single-line text; with unique values where the portal allows) and replay",
            reason="config",
        )
    mode = mode_for(facts)
    context.put_state(STATE_KEY, {"mode": mode, "at": time.time()})
    return mode


@dataclass
class Capabilities:
    """What `hub check --online` reports: facts (notes) and what must change (problems)."""

    notes: list[str]
    problems: list[str]


def portal_capabilities(
    options: HubSpotOptions, contact_key: PropertyFacts, call_key: PropertyFacts, last_call: PropertyFacts
) -> Capabilities:
    """The capabilities the connector relies on, from the portal's property definitions."""
    notes: list[str] = []
    problems: list[str] = []
    contact_name, call_name = options.contact_key_property, options.call_key_property
    if not contact_key.exists:
        problems.append(f"create the contacts property {contact_name!r} (single-line text, unique values)")
    elif not contact_key.unique:
        problems.append(f"contacts property {contact_name!r} must be created with unique values")
    else:
        notes.append(f"contacts keyed by the unique property {contact_name!r}")
    if not call_key.exists:
        problems.append(
            f"create the calls property {call_name!r} (single-line text; unique values where the portal allows)"
        )
    else:
        mode = options.call_idempotency if options.call_idempotency != "auto" else mode_for(call_key)
        unique = (
            "unique values on calls: available"
            if call_key.unique
            else "unique values on calls: not available"
        )
        how = (
            f"calls upserted on {call_name!r}"
            if mode == UNIQUE_PROPERTY
            else f"calls found by remembered id, then a search on {call_name!r}, then created"
        )
        notes.append(f"{unique} ({how})")
        if mode == UNIQUE_PROPERTY and not call_key.unique:
            problems.append(
                f"call_idempotency: unique_property, but {call_name!r} has no unique values on this portal; "
                "use call_idempotency: auto or search"
            )
    if last_call.exists:
        notes.append(
            f"custom property {LAST_CALL_PROPERTY!r} present (older calls never overwrite newer ones)"
        )
    else:
        problems.append(f"create the contacts property {LAST_CALL_PROPERTY!r} (date and time)")
    return Capabilities(notes, problems)
