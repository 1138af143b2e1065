"""Online lint against a destination schema built by hand (what a connector's `describe` returns)."""

from __future__ import annotations

from connectors.base import FieldSchema, TargetSchema
from hub.mapping import lint_against_schema

LEAD_SCHEMA = TargetSchema(
    target="Lead",
    fields={
        "Phone": FieldSchema("Phone", "phone", max_length=40),
        "LastName": FieldSchema("LastName", "string", required=True, max_length=80),
        "Company": FieldSchema("Company", "string", required=True, max_length=255),
        "LeadSource": FieldSchema("LeadSource", "picklist", picklist=("Phone Inquiry", "Web", "Other")),
        "Status": FieldSchema(
            "Status", "picklist", required=True, picklist=("Open", "Qualified", "Unqualified")
        ),
        "IsConverted": FieldSchema("IsConverted", "boolean", createable=False, updateable=False),
        "Rating": FieldSchema("Rating", "picklist", updateable=False, picklist=("Hot", "Cold")),
        "CallType__c": FieldSchema("CallType__c", "picklist", picklist=("Inbound", "Outbound")),
        "Description": FieldSchema("Description", "textarea", max_length=100),
        "Minutes__c": FieldSchema("Minutes__c", "double"),
        "DoNotCall": FieldSchema("DoNotCall", "boolean"),
        "Created__c": FieldSchema("Created__c", "datetime", createable=False),
    },
)

CLEAN = """
version: 1
object: Lead
match: [Phone]
fields:
  Phone: {from: caller.number, transform: e164}
  LastName: {from: [caller.name, caller.number], default: Unknown caller, transform: {truncate: 80}}
  Company: {value: Phone caller}
  LeadSource: {value: Phone Inquiry}
  Status: {from: outcome.lead_status, transform: {map: {good_lead: Qualified, default: Open}}, required: true}
  CallType__c: {from: call.direction, transform: {map: {inbound: Inbound, outbound: Outbound}}}
  Minutes__c: {from: call.duration_s, transform: minutes}
  DoNotCall: {value: false}
"""


def test_clean_mapping_has_no_problems(mapping_from):
    assert lint_against_schema(mapping_from(CLEAN), LEAD_SCHEMA) == []


def _lint(mapping_from, fields: str, match: str = "match: [Phone]") -> list[str]:
    text = f"version: 1\nobject: Lead\n{match}\nfields:\n  Phone: {{from: caller.number}}\n{fields}"
    return lint_against_schema(mapping_from(text), LEAD_SCHEMA)


REQUIRED = "  LastName: {value: x}\n  Company: {value: x}\n  Status: {value: Open}\n"


def test_unknown_field_with_suggestion(mapping_from):
    problems = _lint(mapping_from, REQUIRED + "  phone__c: {value: x}\n  Descripton: {value: x}\n")
    assert problems == [
        "lead.yaml:9: fields.phone__c: Lead has no field 'phone__c'",
        "lead.yaml:10: fields.Descripton: Lead has no field 'Descripton' (did you mean 'Description'?)",
    ]


def test_read_only_and_create_only_fields(mapping_from):
    problems = _lint(
        mapping_from,
        REQUIRED + "  IsConverted: {value: true}\n  Rating: {value: Hot}\n"
        "  Created__c: {from: occurred_at}\n",
    )
    assert problems == [
        "lead.yaml:9: fields.IsConverted: Lead.IsConverted is read-only",
        "lead.yaml:10: fields.Rating: Lead.Rating cannot be updated, so writing a matched record is rejected",
        "lead.yaml:11: fields.Created__c: Lead.Created__c cannot be set on create",
    ]


def test_create_only_field_is_fine_without_match(mapping_from):
    assert _lint(mapping_from, REQUIRED + "  Rating: {value: Hot}\n", match="") == []


def test_picklist_values_from_constants_defaults_and_maps(mapping_from):
    problems = _lint(
        mapping_from,
        "  LastName: {value: x}\n  Company: {value: x}\n"
        "  LeadSource: {value: Phone Call}\n"
        "  Status: {from: outcome.lead_status, transform: {map: {good_lead: Qualified, bad: Junk}}, default: New}\n",
    )
    assert problems == [
        "lead.yaml:8: fields.LeadSource: 'Phone Call' is not an allowed value of Lead.LeadSource (Phone Inquiry, Web, Other)",
        "lead.yaml:9: fields.Status: 'New' is not an allowed value of Lead.Status (Open, Qualified, Unqualified)",
        "lead.yaml:9: fields.Status: 'Junk' is not an allowed value of Lead.Status (Open, Qualified, Unqualified)",
    ]


def test_picklist_fed_by_a_closed_event_vocabulary(mapping_from):
    problems = _lint(mapping_from, REQUIRED + "  CallType__c: {from: call.direction}\n")
    assert problems == [
        "lead.yaml:9: fields.CallType__c: 'inbound' is not an allowed value of Lead.CallType__c (Inbound, Outbound)",
        "lead.yaml:9: fields.CallType__c: 'outbound' is not an allowed value of Lead.CallType__c (Inbound, Outbound)",
    ]


def test_values_too_long(mapping_from):
    long_text = "x" * 101
    problems = _lint(
        mapping_from,
        f"  LastName: {{value: x}}\n  Status: {{value: Open}}\n  Description: {{value: {long_text}}}\n"
        f"  Company: {{from: outcome.notes, default: {'y' * 256}}}\n",
    )
    assert problems == [
        f"lead.yaml:8: fields.Description: '{long_text}' is 101 characters; Lead.Description takes at most 100",
        f"lead.yaml:9: fields.Company: '{'y' * 256}' is 256 characters; Lead.Company takes at most 255",
    ]


def test_truncate_longer_than_the_field(mapping_from):
    problems = _lint(
        mapping_from,
        "  LastName: {from: caller.name, default: x, transform: {truncate: 120}}\n"
        "  Company: {value: x}\n  Status: {value: Open}\n",
    )
    assert problems == [
        "lead.yaml:6: fields.LastName: truncate(120) lets through more than the 80 characters Lead.LastName takes"
    ]


def test_required_fields_never_filled_or_maybe_empty(mapping_from):
    problems = _lint(mapping_from, "  LastName: {from: caller.name}\n")
    assert problems == [
        "lead.yaml:4: fields: Lead requires 'Company', which the mapping never fills",
        "lead.yaml:4: fields: Lead requires 'Status', which the mapping never fills",
        "lead.yaml:6: fields.LastName: Lead requires it but a call may have no value for caller.name; "
        "add a `default:` (or `required: true` to fail visibly)",
    ]


def test_constant_types(mapping_from):
    problems = _lint(
        mapping_from,
        REQUIRED + "  DoNotCall: {value: 'false'}\n  Minutes__c: {value: many}\n"
        "  Minutes__c2: {from: call.duration_s}\n",
    )
    assert problems[:2] == [
        "lead.yaml:9: fields.DoNotCall: Lead.DoNotCall is a boolean; 'false' is not",
        "lead.yaml:10: fields.Minutes__c: Lead.Minutes__c is a number; 'many' is not",
    ]


def test_text_transform_into_a_number_field(mapping_from):
    problems = _lint(mapping_from, REQUIRED + "  Minutes__c: {from: call.duration_s, transform: string}\n")
    assert problems == [
        "lead.yaml:9: fields.Minutes__c: Lead.Minutes__c is a number but `string` produces text"
    ]


GA4_SCHEMA = TargetSchema(
    target="qualified_call",
    fields={
        "client_id": FieldSchema("client_id", "string", required=True),
        "params.session_id": FieldSchema("params.session_id", "string", max_length=100),
        "params.*": FieldSchema("params.*", "string", max_length=100),
    },
)


def test_open_field_families_and_fields_guaranteed_by_when(mapping_from):
    mapping = mapping_from(
        """
        version: 1
        event: qualified_call
        when:
          - {path: attribution.ga_client_id, exists: true}
        fields:
          client_id: {from: attribution.ga_client_id}
          params.campaign: {from: attribution.campaign, transform: {truncate: 150}}
          user_data.sha256_phone_number: {from: caller.number, transform: sha256_e164}
        """
    )
    assert lint_against_schema(mapping, GA4_SCHEMA) == [
        "lead.yaml:7: fields.params.campaign: truncate(150) lets through more than the 100 characters "
        "qualified_call.params.campaign takes",
        "lead.yaml:8: fields.user_data.sha256_phone_number: qualified_call has no field "
        "'user_data.sha256_phone_number'",
    ]


def test_exists_false_guarantees_nothing(mapping_from):
    mapping = mapping_from(
        """
        version: 1
        event: qualified_call
        when:
          - {path: attribution.ga_client_id, exists: false}
        fields:
          client_id: {from: attribution.ga_client_id}
        """
    )
    assert len(lint_against_schema(mapping, GA4_SCHEMA)) == 1
