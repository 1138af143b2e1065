"""The fake org's objects: a standard org's fields for what the hub touches, plus its custom fields.

Field specs are compact here and expanded into Salesforce's describe shape on request, so the
validation the store applies and the describe the connector reads can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from connectors.salesforce.fake.addresses import ADDRESSES, STATES, countries, valid_for


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
    #: Picklist labels beside `picklist` values (State/Country codes: the names), same order.
    labels: tuple[str, ...] = ()
    #: Dependent picklists: the controlling field and each value's `validFor` bitmap (base64).
    controller: str | None = None
    valid_for: tuple[str, ...] = ()

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
        _text("MailingCountry", 80),
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
    # Setup metadata readable through SOQL (needs View Setup): the active rules the org enforces.
    "DuplicateRule": (
        *_SYSTEM,
        _text("DeveloperName", 80, required=True),
        _text("MasterLabel", 80),
        _text("SobjectType", 40),
        FieldSpec("IsActive", "boolean", default=True),
    ),
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
    "DuplicateRule": "0Bm",
}


def field_map(
    sobject: str, picklists: bool = False, custom: Sequence[FieldSpec] = ()
) -> dict[str, FieldSpec]:
    """One object's fields in an org: standard ones, address code fields when State and
    Country/Territory picklists are on, and the admin's custom fields."""
    specs = {spec.name: spec for spec in OBJECTS[sobject]}
    if picklists:
        for prefix in ADDRESSES.get(sobject, ()):
            specs.update({spec.name: spec for spec in _address_codes(prefix)})
    specs.update({spec.name: spec for spec in custom})
    return specs


def _address_codes(prefix: str) -> tuple[FieldSpec, FieldSpec]:
    names = countries()
    states = [(country, code, name) for country, codes in STATES.items() for code, name in codes.items()]
    country = FieldSpec(
        f"{prefix}CountryCode", "picklist", 10, picklist=tuple(names), labels=tuple(names.values()),
        restricted=True,
    )  # fmt: skip
    state = FieldSpec(
        f"{prefix}StateCode", "picklist", 10, picklist=tuple(code for _, code, _ in states),
        labels=tuple(name for _, _, name in states), restricted=True, controller=f"{prefix}CountryCode",
        valid_for=tuple(valid_for(country) for country, _, _ in states),
    )  # fmt: skip
    return country, state


def custom_field(sobject: str, name: str, raw: Mapping[str, Any]) -> FieldSpec:
    """A custom field an admin declares for the sandbox (hub.yaml `sandbox: custom_fields:`)."""
    type_ = str(raw.get("type", "string"))
    type_ = "string" if type_ == "text" else type_
    if not name.endswith("__c") or type_ not in CUSTOM_TYPES:
        raise ValueError(
            f"{sobject}.{name}: a custom field's name ends in __c and its type is one of "
            f"{', '.join(sorted(CUSTOM_TYPES))}"
        )
    values = tuple(str(v) for v in raw.get("values") or ())
    return FieldSpec(
        name, type_, int(raw.get("length", CUSTOM_TYPES[type_])), custom=True, picklist=values,
        restricted=bool(raw.get("restricted", False)), external_id=bool(raw.get("external_id", False)),
        unique=bool(raw.get("unique", False)), required=bool(raw.get("required", False)),
        default=False if type_ == "boolean" else None,
    )  # fmt: skip


#: Custom field types the sandbox org takes, with their default length (the fake's own copy).
CUSTOM_TYPES: Final = {
    "string": 255, "textarea": 32768, "email": 80, "phone": 40, "url": 255, "picklist": 255,
    "boolean": 0, "int": 0, "double": 0, "currency": 0, "percent": 0, "date": 0, "datetime": 0,
}  # fmt: skip


def describe(sobject: str, version: str, specs: Mapping[str, FieldSpec] | None = None) -> dict[str, Any]:
    """The sObject describe body Salesforce returns for GET .../sobjects/<Object>/describe."""
    fields = [_describe_field(spec) for spec in (specs or field_map(sobject)).values()]
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
                "label": spec.labels[index] if spec.labels else value,
                "validFor": spec.valid_for[index] if spec.valid_for else None,
                "value": value,
            }
            for index, value in enumerate(spec.picklist)
        ],
        "controllerName": spec.controller,
        "dependentPicklist": spec.controller is not None,
        "referenceTo": list(spec.reference_to),
        "relationshipName": spec.name.removesuffix("Id") if spec.reference_to else None,
        "calculated": spec.name == "Name" and not spec.createable,
        "filterable": spec.type != "textarea",
        "sortable": spec.type != "textarea",
    }
