"""The fake HubSpot's property catalogue: what `GET /crm/v3/properties/{objectType}` lists and what
every write is validated against (unknown names, read-only values, enumeration options, types)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

#: Default call outcomes of every portal (label -> GUID), as `GET /calling/v1/dispositions` lists them.
DEFAULT_DISPOSITIONS: dict[str, str] = {
    "Busy": "9d9162e7-6cf3-4944-bf63-4dff82258764",
    "Connected": "f240bbac-87c9-4f6e-bf70-924b57d47db7",
    "Left live message": "a4c4c377-d246-4b32-a13b-75a56a4cd0ff",
    "Left voicemail": "b2cf5968-551e-4856-9783-52b3da59a7d0",
    "No answer": "73a0d17f-1163-4015-bdd5-ec830791da20",
    "Wrong number": "17b47fee-58de-441e-a44c-c6300d46f273",
}

LIFECYCLE_STAGES: tuple[str, ...] = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
LEAD_STATUSES: tuple[str, ...] = (
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
)
CALL_STATUSES: tuple[str, ...] = (
    "BUSY",
    "CALLING_CRM_USER",
    "CANCELED",
    "COMPLETED",
    "CONNECTING",
    "FAILED",
    "IN_PROGRESS",
    "NO_ANSWER",
    "QUEUED",
    "RINGING",
)

#: The custom properties docs/destinations/hubspot.md asks an admin to create (name -> label).
CALLHUB_CONTACT_PROPERTIES: dict[str, str] = {
    "callhub_caller_e164": "Caller number (E.164, callhub key)",
    "callhub_tracking_number": "Tracking number called",
    "callhub_source": "Call source",
    "callhub_medium": "Call medium",
    "callhub_campaign": "Call campaign",
    "callhub_keyword": "Call keyword",
    "callhub_ad_group": "Call ad group",
    "callhub_landing_page": "Call landing page",
    "callhub_referrer": "Call referrer",
    "callhub_gclid": "Google click id (gclid)",
    "callhub_gbraid": "Google gbraid",
    "callhub_wbraid": "Google wbraid",
    "callhub_fbclid": "Meta click id (fbclid)",
    "callhub_msclkid": "Microsoft click id (msclkid)",
    "callhub_utm_source": "UTM source",
    "callhub_utm_medium": "UTM medium",
    "callhub_utm_campaign": "UTM campaign",
    "callhub_utm_term": "UTM term",
    "callhub_utm_content": "UTM content",
    "callhub_ga_client_id": "GA client id",
    "callhub_last_call_at": "Last call at",
}
CALLHUB_CALL_PROPERTIES: dict[str, str] = {"callhub_call_id": "callhub call id"}
#: Custom properties created with `hasUniqueValue: true` (usable as `idProperty` in upserts).
UNIQUE_CUSTOM = frozenset({"callhub_caller_e164", "callhub_call_id"})


@dataclass(frozen=True)
class PropertyDef:
    name: str
    label: str
    type: str = "string"
    field_type: str = "text"
    options: tuple[str, ...] = ()
    read_only: bool = False
    unique: bool = False
    hubspot_defined: bool = True

    def as_json(self, object_type: str) -> dict[str, Any]:
        """The property as the properties API returns it."""
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": "",
            "groupName": "contactinformation" if object_type == "contacts" else "call",
            "options": [
                {"label": value, "value": value, "displayOrder": index, "hidden": False}
                for index, value in enumerate(self.options)
            ],
            "displayOrder": -1,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.unique,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "formField": False,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "createdAt": "2024-01-01T00:00:00Z",
            "updatedAt": "2024-01-01T00:00:00Z",
            "archived": False,
        }


def _text(names: Iterable[str]) -> list[PropertyDef]:
    return [PropertyDef(name, name) for name in names]


def _read_only(names: Iterable[str], type_: str = "string") -> list[PropertyDef]:
    return [PropertyDef(name, name, type=type_, read_only=True) for name in names]


def _contacts() -> list[PropertyDef]:
    return [
        *_text(
            ("firstname", "lastname", "company", "city", "state", "zip", "country", "jobtitle", "website")
        ),
        PropertyDef("email", "Email", field_type="text"),
        PropertyDef("phone", "Phone number", field_type="phonenumber"),
        PropertyDef("mobilephone", "Mobile phone number", field_type="phonenumber"),
        PropertyDef("hubspot_owner_id", "Contact owner", type="enumeration", field_type="select"),
        PropertyDef("lifecyclestage", "Lifecycle stage", "enumeration", "radio", LIFECYCLE_STAGES),
        PropertyDef("hs_lead_status", "Lead status", "enumeration", "radio", LEAD_STATUSES),
        PropertyDef("hs_analytics_source", "Original source", "enumeration", "select", read_only=True),
        *_read_only(
            ("hs_analytics_source_data_1", "hs_analytics_source_data_2", "hs_calculated_phone_number")
        ),
        *_read_only(("hs_searchable_calculated_phone_number", "hs_searchable_calculated_mobile_number")),
        *_read_only(("createdate", "lastmodifieddate"), "datetime"),
        *_read_only(("hs_object_id",), "number"),
    ]


def _calls() -> list[PropertyDef]:
    return [
        PropertyDef("hs_timestamp", "Activity date", type="datetime", field_type="date"),
        *_text(("hs_call_title", "hs_call_from_number", "hs_call_to_number", "hs_call_recording_url")),
        PropertyDef("hs_call_body", "Call notes", field_type="html"),
        PropertyDef("hs_call_duration", "Call duration", type="number", field_type="number"),
        PropertyDef("hs_call_direction", "Call direction", "enumeration", "select", ("INBOUND", "OUTBOUND")),
        PropertyDef("hs_call_status", "Call status", "enumeration", "select", CALL_STATUSES),
        PropertyDef("hs_call_disposition", "Call outcome", "enumeration", "select"),
        PropertyDef("hubspot_owner_id", "Activity assigned to", type="enumeration", field_type="select"),
        *_read_only(("hs_createdate", "hs_lastmodifieddate"), "datetime"),
        *_read_only(("hs_object_id",), "number"),
    ]


def _custom(names: dict[str, str]) -> list[PropertyDef]:
    return [
        PropertyDef(
            name,
            label,
            type="datetime" if name.endswith("_at") else "string",
            field_type="date" if name.endswith("_at") else "text",
            unique=name in UNIQUE_CUSTOM,
            hubspot_defined=False,
        )
        for name, label in names.items()
    ]


def catalogue(
    with_custom: bool = True,
    *,
    unique_calls: bool = True,
    declared: Mapping[str, Sequence[PropertyDef]] | None = None,
) -> dict[str, dict[str, PropertyDef]]:
    """Object type -> property name -> definition; `with_custom=False` is a portal nobody set up,
    `unique_calls=False` one that gives no unique values on calls (HubSpot documents unique
    properties for contacts, companies, deals, tickets and custom objects, not calls), and
    `declared` adds the properties an admin declared for the sandbox."""
    contacts = _contacts() + (_custom(CALLHUB_CONTACT_PROPERTIES) if with_custom else [])
    calls = _calls() + (_custom(CALLHUB_CALL_PROPERTIES) if with_custom else [])
    if not unique_calls:
        calls = [replace(p, unique=False) for p in calls]
    contacts += list((declared or {}).get("contacts", ()))
    calls += list((declared or {}).get("calls", ()))
    return {
        "contacts": {p.name: p for p in contacts},
        "calls": {p.name: p for p in calls},
    }
