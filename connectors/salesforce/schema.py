"""Salesforce's sObject describe -> the hub's `TargetSchema`, plus the connector's own input fields."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

from connectors.base import FieldSchema, TargetSchema
from connectors.salesforce.options import CAMPAIGN_NAME, OWNER_EMAIL

_HUB_FIELDS: Final[dict[str, tuple[FieldSchema, ...]]] = {
    "Lead": (FieldSchema(OWNER_EMAIL, "email"),),
    "Contact": (),
    "Task": (FieldSchema(OWNER_EMAIL, "email"),),
    "CampaignMember": (FieldSchema(CAMPAIGN_NAME, "string", max_length=80),),
}
#: Fields a mapping need not fill: the connector does (defaults, the caller's record, the Campaign).
_FILLED_BY_HUB: Final[dict[str, frozenset[str]]] = {
    "Lead": frozenset({"LastName", "Company"}),
    "Task": frozenset({"WhoId"}),
    "CampaignMember": frozenset({"CampaignId", "LeadId", "ContactId"}),
}
_NOTES: Final = (
    "lower-case fields (owner_email, campaign_name) are read by the hub and never sent to Salesforce",
    "WhoId, OwnerId, CampaignId and LeadId/ContactId are filled by the hub from the caller it finds",
    "the hub never creates Contacts (a new caller becomes a Lead): a Contact mapping only updates",
)


def target_schema(target: str, describe: Mapping[str, Any]) -> TargetSchema:
    fields: dict[str, FieldSchema] = {}
    filled = _FILLED_BY_HUB.get(target, frozenset())
    for raw in describe.get("fields") or []:
        described = _field(raw)
        if target == "Contact" or described.name in filled:
            described = dataclasses.replace(described, required=False)
        fields[described.name] = described
    for extra in _HUB_FIELDS.get(target, ()):
        fields[extra.name] = extra
    return TargetSchema(target=target, fields=fields, notes=_NOTES)


def _field(raw: Mapping[str, Any]) -> FieldSchema:
    type_name = str(raw.get("type", "string")).lower()
    createable = bool(raw.get("createable"))
    restricted = bool(raw.get("restrictedPicklist"))
    values = tuple(str(v["value"]) for v in raw.get("picklistValues") or [] if v.get("active", True))
    return FieldSchema(
        name=str(raw["name"]),
        type=type_name,
        createable=createable,
        updateable=bool(raw.get("updateable")),
        # Salesforce's own rule: required on create when not nillable, not defaulted, and createable.
        required=createable and not raw.get("nillable", True) and not raw.get("defaultedOnCreate", False),
        max_length=int(raw["length"]) if raw.get("length") else None,
        picklist=values if restricted and values else None,
    )
