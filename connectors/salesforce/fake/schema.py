"""The fake org's objects: a standard org's fields for what the hub touches, plus its custom fields.

Field specs are compact here and expanded into Salesforce's describe shape on request, so the
validation the store applies and the describe the connector reads can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    length: int = 0
    required: bool = False
    createable: bool = True
    updateable: bool = True
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    default: Any = None
    external_id: bool = False
    unique: bool = False
    reference_to: tuple[str, ...] = ()
    custom: bool = False

    @property
    def nillable(self) -> bool:
        return not self.required and self.type != "boolean"


def _text(name: str, length: int = 255, **kw: Any) -> FieldSpec:
    return FieldSpec(name, "string", length, custom=name.endswith("__c"), **kw)


def _ref(name: str, *targets: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name, "reference", 18, reference_to=targets, **kw)


def _readonly(name: str, type_: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name, type_, createable=False, updateable=False, **kw)


_SYSTEM: Final = (
    FieldSpec("Id", "id", 18, createable=False, updateable=False),
    _readonly("IsDeleted", "boolean", default=False),
    _readonly("CreatedDate", "datetime"),
    _readonly("LastModifiedDate", "datetime"),
    _readonly("SystemModstamp", "datetime"),
    _readonly("CreatedById", "reference", reference_to=("User",)),
)

# Attribution custom fields the shipped mappings write (documented in docs/destinations/salesforce.md).
_ATTRIBUTION: Final = (
    _text("Call_Source__c"),
    _text("Call_Medium__c"),
    _text("Call_Campaign__c"),
    _text("Call_Keyword__c"),
    _text("Call_Ad_Group__c"),
    FieldSpec("Call_Landing_Page__c", "url", 255, custom=True),
    FieldSpec("Call_Referrer__c", "url", 255, custom=True),
    _text("GCLID__c"),
    _text("FBCLID__c"),
    _text("MSCLKID__c"),
    _text("UTM_Source__c"),
    _text("UTM_Medium__c"),
    _text("UTM_Campaign__c"),
    _text("UTM_Term__c"),
    _text("UTM_Content__c"),
    _text("GA_Client_Id__c"),
    FieldSpec("Tracking_Number__c", "phone", 40, custom=True),
)

_OUTCOME: Final = (
    FieldSpec("Call_Qualified__c", "boolean", default=False, custom=True),
    FieldSpec("Call_Value__c", "currency", custom=True),
    _text("Call_Tags__c"),
)

_PERSON: Final = (
    _text("FirstName", 40),
    _text("Phone_E164__c", 40, external_id=True),
    _text("LastName", 80, required=True),
    _readonly("Name", "string", length=121),
    FieldSpec("Phone", "phone", 40),
    FieldSpec("MobilePhone", "phone", 40),
    FieldSpec("Email", "email", 80),
    _text("Title", 128),
    FieldSpec("Description", "textarea", 32000),
    _ref("OwnerId", "User", "Group"),
    FieldSpec(
        "LeadSource",
        "picklist",
        255,
        picklist=("Web", "Phone Inquiry", "Phone Call", "Partner Referral", "Other"),
    ),
)

LEAD_STATUSES: Final = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
)

OBJECTS: Final[dict[str, tuple[FieldSpec, ...]]] = {
    "Lead": (
        *_SYSTEM,
        *_PERSON,
        _text("Company", 255, required=True),
        # The caller's E.164, filled by the hub on the Leads it creates: upserts find them again.
        _text("Callhub_Caller_E164__c", 40, external_id=True, unique=True),
        _text("City", 40),
        _text("State", 80),
        _text("PostalCode", 20),
        _text("Country", 80),
        FieldSpec(
            "Status", "picklist", 255, picklist=LEAD_STATUSES, restricted=True, default=LEAD_STATUSES[0]
        ),
        FieldSpec("Rating", "picklist", 255, picklist=("Hot", "Warm", "Cold")),
        _readonly("IsConverted", "boolean", default=False),
        _readonly("ConvertedContactId", "reference", length=18, reference_to=("Contact",)),
        _readonly("ConvertedDate", "date"),
        *_ATTRIBUTION,
        *_OUTCOME,
    ),
    "Contact": (
        *_SYSTEM,
        *_PERSON,
        _ref("AccountId", "Account"),
        _text("MailingCity", 40),
        _text("MailingState", 80),
        *_ATTRIBUTION,
        *_OUTCOME,
    ),
    "Task": (
        *_SYSTEM,
        _ref("WhoId", "Lead", "Contact"),
        _ref("WhatId", "Account", "Campaign"),
        _ref("OwnerId", "User"),
        FieldSpec("Subject", "combobox", 255),
        FieldSpec("Description", "textarea", 32000),
        FieldSpec("ActivityDate", "date"),
        FieldSpec(
            "Status",
            "picklist",
            255,
            picklist=("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"),
            restricted=True,
            default="Not Started",
        ),
        FieldSpec(
            "Priority", "picklist", 255, picklist=("High", "Normal", "Low"), restricted=True, default="Normal"
        ),
        FieldSpec(
            "TaskSubtype",
            "picklist",
            255,
            picklist=("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"),
            restricted=True,
            updateable=False,
            default="Task",
        ),
        FieldSpec("CallDurationInSeconds", "int"),
        FieldSpec("CallType", "picklist", 255, picklist=("Internal", "Inbound", "Outbound"), restricted=True),
        _text("CallDisposition"),
        _text("CallObject"),
        _text("Call_Tracking_Id__c", external_id=True, unique=True),
        FieldSpec("Recording_URL__c", "url", 255, custom=True),
        *_ATTRIBUTION,
    ),
    "CampaignMember": (
        *_SYSTEM,
        _ref("CampaignId", "Campaign", required=True, updateable=False),
        _ref("LeadId", "Lead", updateable=False),
        _ref("ContactId", "Contact", updateable=False),
        FieldSpec("Status", "picklist", 255, picklist=("Sent", "Responded"), default="Sent"),
        _readonly("HasResponded", "boolean", default=False),
    ),
    "Campaign": (
        *_SYSTEM,
        _text("Name", 80, required=True),
        FieldSpec("IsActive", "boolean", default=True),
        FieldSpec("Type", "picklist", 255, picklist=("Advertisement", "Email", "Webinar", "Other")),
    ),
    "User": (
        *_SYSTEM,
        _text("Username", 80, required=True),
        FieldSpec("Email", "email", 128, required=True),
        _text("LastName", 80, required=True),
        FieldSpec("IsActive", "boolean", default=True),
    ),
    "Account": (*_SYSTEM, _text("Name", 255, required=True), _ref("OwnerId", "User")),
    "Group": (*_SYSTEM, _text("Name", 40, required=True), _text("Type", 40)),
}

KEY_PREFIXES: Final = {
    "Lead": "00Q",
    "Contact": "003",
    "Task": "00T",
    "CampaignMember": "00v",
    "Campaign": "701",
    "User": "005",
    "Account": "001",
    "Group": "00G",
}


def field_map(sobject: str) -> dict[str, FieldSpec]:
    return {spec.name: spec for spec in OBJECTS[sobject]}


def describe(sobject: str, version: str) -> dict[str, Any]:
    """The sObject describe body Salesforce returns for GET .../sobjects/<Object>/describe."""
    fields = [_describe_field(spec) for spec in OBJECTS[sobject]]
    base = f"/services/data/v{version}/sobjects/{sobject}"
    return {
        "name": sobject,
        "label": sobject,
        "labelPlural": sobject + "s",
        "keyPrefix": KEY_PREFIXES[sobject],
        "custom": False,
        "createable": True,
        "updateable": True,
        "deletable": True,
        "queryable": True,
        "searchable": sobject in ("Lead", "Contact", "Campaign", "Account", "User"),
        "fields": fields,
        "recordTypeInfos": [],
        "childRelationships": [],
        "urls": {"sobject": base, "describe": base + "/describe", "rowTemplate": base + "/{ID}"},
    }


def _describe_field(spec: FieldSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "label": spec.name.removesuffix("__c").replace("_", " "),
        "type": spec.type,
        "length": spec.length,
        "nillable": spec.nillable,
        "createable": spec.createable,
        "updateable": spec.updateable,
        "defaultedOnCreate": spec.default is not None or spec.type == "id",
        "defaultValue": spec.default if spec.type == "boolean" else None,
        "custom": spec.custom,
        "externalId": spec.external_id,
        "unique": spec.unique,
        "idLookup": spec.type == "id" or spec.external_id,
        "restrictedPicklist": spec.restricted,
        "picklistValues": [
            {
                "active": True,
                "defaultValue": value == spec.default,
                "label": value,
                "validFor": None,
                "value": value,
            }
            for value in spec.picklist
        ],
        "referenceTo": list(spec.reference_to),
        "relationshipName": spec.name.removesuffix("Id") if spec.reference_to else None,
        "calculated": spec.name == "Name" and not spec.createable,
        "filterable": spec.type != "textarea",
        "sortable": spec.type != "textarea",
    }
