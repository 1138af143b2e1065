"""What `hub preview` shows for one delivery: the requests `send` would make, made by nobody."""

from __future__ import annotations

from connectors.base import ConnectorContext, PlannedRequest
from connectors.hubspot.call_search import call_state_key
from connectors.hubspot.calls import properties_for
from connectors.hubspot.capabilities import SEARCH
from connectors.hubspot.capabilities import STATE_KEY as CAPABILITY_STATE_KEY
from connectors.hubspot.contacts import contact_state_key, merged_properties
from connectors.hubspot.lookup import plan_searches, search_properties
from connectors.hubspot.options import HubSpotOptions
from connectors.hubspot.plan import CallPlan


def planned_requests(
    plan: CallPlan, options: HubSpotOptions, context: ConnectorContext
) -> list[PlannedRequest]:
    planned = _contact_requests(plan, options, context)
    if plan.call is None:
        return planned
    planned += _call_requests(plan, options, context)
    if planned[0].url.startswith("/crm/v3/objects/contacts"):
        planned.append(
            PlannedRequest(
                "POST",
                "/crm/v4/associations/call/contact/batch/associate/default",
                {"inputs": [{"from": {"id": "<call id>"}, "to": {"id": "<contact id>"}}]},
                note="only when the call is not yet associated with this contact",
            )
        )
    return planned


def _call_requests(
    plan: CallPlan, options: HubSpotOptions, context: ConnectorContext
) -> list[PlannedRequest]:
    properties = properties_for([plan])
    remembered_mode = (context.get_state(CAPABILITY_STATE_KEY) or {}).get("mode")
    mode = options.call_idempotency if options.call_idempotency != "auto" else remembered_mode
    if mode != SEARCH:
        upsert = {"id": plan.call_key, "idProperty": options.call_key_property, "properties": properties}
        note = "one engagement per call: the same call id updates it"
        if mode is None:
            note += " (where the portal gives unique values on calls; else found by search, then created)"
        return [PlannedRequest("POST", "/crm/v3/objects/calls/batch/upsert", {"inputs": [upsert]}, note=note)]
    state = context.get_state(call_state_key(plan.call_key)) or {}
    if state.get("id"):
        return [
            PlannedRequest(
                "POST",
                "/crm/v3/objects/calls/batch/update",
                {"inputs": [{"id": state["id"], "properties": properties}]},
                note="the engagement the hub wrote for this call before",
            )
        ]
    search = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": options.call_key_property, "operator": "IN", "values": [plan.call_key]}
                ]
            }
        ],
        "properties": [options.call_key_property],
    }
    create = {"properties": {**properties, options.call_key_property: plan.call_key}}
    return [
        PlannedRequest(
            "POST", "/crm/v3/objects/calls/search", search, note="search mode: an engagement for this call?"
        ),
        PlannedRequest(
            "POST",
            "/crm/v3/objects/calls/batch/create",
            {"inputs": [create]},
            note="only when none was found (else a batch update of the oldest found)",
        ),
    ]


def _contact_requests(
    plan: CallPlan, options: HubSpotOptions, context: ConnectorContext
) -> list[PlannedRequest]:
    if plan.contact is None or plan.caller is None:
        return []
    values, _ = merged_properties([plan])
    state = context.get_state(contact_state_key(plan.caller)) or {}
    if state.get("id"):
        return [
            PlannedRequest(
                "POST",
                "/crm/v3/objects/contacts/batch/update",
                {"inputs": [{"id": state["id"], "properties": values}]},
                note=(
                    "the contact the hub wrote before (create_only and match fields, a backward "
                    "lifecycle stage and an older call's attribution left out)"
                ),
            )
        ]
    searched = search_properties(plan.contact.match)
    search_plan = plan_searches([plan.caller], searched, options.max_in_values)[0]
    return [
        PlannedRequest(
            "POST",
            "/crm/v3/objects/contacts/search",
            {"filterGroups": search_plan.filter_groups(), "properties": searched},
            note="find the caller in any stored phone format",
        ),
        PlannedRequest(
            "POST",
            "/crm/v3/objects/contacts/batch/create",
            {"inputs": [{"properties": {**values, options.contact_key_property: plan.caller}}]},
            note=(
                "when no contact holds the number (else a batch update of the one found); a contact "
                "already keyed by the number answers CONFLICT and is read by key and updated instead"
            ),
        ),
    ]
