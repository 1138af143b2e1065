"""Rendering a call through a mapping: values, fallbacks, defaults, sparse updates, skips."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from hub.core.events import Attribution, Caller, Outcome
from hub.core.records import RenderedRecord, Skip
from hub.mapping import RenderError
from tests.mapping.conftest import answered_call

LEAD = """
version: 1
object: Lead
events: [call.completed, call.updated]
when:
  - {path: call.status, equals: answered}
  - {path: call.duration_s, gte: 60}
match: [Phone, Email]
options: {duplicates: hold}
fields:
  Phone: {from: caller.number, transform: e164}
  Email: {from: caller.email, transform: lower}
  LastName: {from: [caller.name, caller.number], default: "Unknown caller", transform: {truncate: 5}}
  LeadSource: {value: Phone Inquiry}
  Status: {from: outcome.lead_status, transform: {map: {good_lead: Qualified, not_a_lead: Unqualified}}}
  Call_Minutes__c: {from: call.duration_s, transform: minutes}
  GCLID__c: {from: attribution.gclid}
  Value__c: {from: outcome.value}
  Started__c: {from: call.started_at}
  Tags__c: {from: outcome.tags}
  Owner__c: {from: custom.crm.owner}
"""


def test_renders_every_field(mapping_from):
    record = mapping_from(LEAD).render(answered_call())
    assert record == RenderedRecord(
        mapping="lead.yaml",
        target="Lead",
        fields={
            "Phone": "+14155550100",
            "Email": " ada@example.com ",
            "LastName": "Ada L",
            "LeadSource": "Phone Inquiry",
            "Status": "Qualified",
            "Call_Minutes__c": 2.08,
            "GCLID__c": "Cj0KCQ",
            "Value__c": "250.50",
            "Started__c": "2024-05-01T14:04:05Z",
            "Tags__c": ["Booked", "vip"],
            "Owner__c": "team-a",
        },
        match=("Phone", "Email"),
        options={"duplicates": "hold"},
    )
    json.dumps(dict(record.fields))


def test_sparse_update_leaves_out_fields_without_value(mapping_from):
    call = answered_call(
        kind="call.updated",
        caller=Caller(number="+14155550100"),
        attribution=Attribution(),
        outcome=Outcome(),
    )
    record = mapping_from(LEAD).render(call)
    assert isinstance(record, RenderedRecord)
    assert set(record.fields) == {
        "Phone",
        "LastName",
        "LeadSource",
        "Call_Minutes__c",
        "Started__c",
        "Owner__c",
    }
    assert None not in record.fields.values()
    # A match field without a value is not offered as a key.
    assert record.match == ("Phone",)


def test_fallback_paths_then_default(mapping_from):
    mapping = mapping_from(LEAD)
    by_number = mapping.render(answered_call(caller=Caller(number="+14155550100")))
    nothing = mapping.render(answered_call(caller=Caller()))
    assert isinstance(by_number, RenderedRecord)
    assert isinstance(nothing, RenderedRecord)
    assert by_number.fields["LastName"] == "+1415"
    assert nothing.fields["LastName"] == "Unknown caller"  # the default is sent as written


def test_transform_failure_falls_back_to_next_path(mapping_from):
    mapping = mapping_from(
        """
        version: 1
        object: Lead
        fields:
          Phone: {from: [caller.number, custom.phone], transform: e164}
        """
    )
    record = mapping.render(
        answered_call(caller=Caller(number="anonymous"), custom={"phone": "(470) 555-0183"})
    )
    assert isinstance(record, RenderedRecord)
    assert record.fields == {"Phone": "+14705550183"}


def test_unmapped_value_without_map_default_is_left_out(mapping_from):
    record = mapping_from(LEAD).render(answered_call(outcome=Outcome(lead_status="spam_lead")))
    assert isinstance(record, RenderedRecord)
    assert "Status" not in record.fields


def test_required_field_without_value_raises_naming_file_and_field(mapping_from):
    mapping = mapping_from(
        """
        version: 1
        event: phone_call
        fields:
          client_id: {from: attribution.ga_client_id, required: true}
        """
    )
    with pytest.raises(RenderError) as caught:
        mapping.render(answered_call())
    assert caught.value.reason == "mapping"
    assert caught.value.message == (
        "lead.yaml:4: fields.client_id: required but the call has no value for attribution.ga_client_id"
    )


def test_custom_value_of_wrong_type_raises_render_error(mapping_from):
    mapping = mapping_from(
        """
        version: 1
        object: Lead
        fields:
          Score__c: {from: custom.crm, transform: upper}
        """
    )
    with pytest.raises(RenderError, match=r"^lead\.yaml:4: fields\.Score__c: expects text, got dict"):
        mapping.render(answered_call())


def test_events_filter_skips_with_reason(mapping_from):
    result = mapping_from(LEAD).render(answered_call(kind="call.started"))
    assert isinstance(result, Skip)
    assert result.mapping == "lead.yaml"
    assert result.reason.startswith("events: call.started")


def test_default_events_are_every_kind_but_unknown(mapping_from):
    mapping = mapping_from("version: 1\nobject: Task\nfields:\n  Subject: {value: Call}\n")
    assert mapping.events == {"call.started", "call.completed", "call.updated"}
    assert isinstance(mapping.render(answered_call(kind="unknown")), Skip)
    assert isinstance(mapping.render(answered_call(kind="call.started")), RenderedRecord)


def test_when_skip_names_the_failing_condition(mapping_from):
    short = answered_call()
    short = replace(short, call=replace(short.call, duration_s=12))
    result = mapping_from(LEAD).render(short)
    assert result == Skip("lead.yaml", "when: call.duration_s gte 60")


def test_mapping_attributes(mapping_from):
    mapping = mapping_from(LEAD)
    assert mapping.path == "lead.yaml"
    assert mapping.target == "Lead"
    assert mapping.target_key == "object"
    assert mapping.destination_type == "salesforce"
    assert mapping.match == ("Phone", "Email")
    assert mapping.options == {"duplicates": "hold"}
    assert mapping.events == {"call.completed", "call.updated"}


def test_ga4_event_target(mapping_from):
    mapping = mapping_from(
        """
        version: 1
        event: phone_call
        fields:
          params.campaign: {from: [attribution.utm_campaign, attribution.campaign], transform: {truncate: 100}}
          user_data.sha256_phone_number: {from: caller.number, transform: sha256_e164}
          params.value: {from: outcome.value, transform: number}
        """
    )
    record = mapping.render(answered_call())
    assert isinstance(record, RenderedRecord)
    assert mapping.target_key == "event"
    assert record.target == "phone_call"
    assert record.fields["params.campaign"] == "Spring Sale"
    assert record.fields["params.value"] == 250.5
    assert len(record.fields["user_data.sha256_phone_number"]) == 64


def test_constants_may_be_lists_and_mappings(mapping_from):
    mapping = mapping_from(
        """
        version: 1
        object: calls
        fields:
          associations: {value: [{types: [{associationCategory: HUBSPOT_DEFINED, associationTypeId: 194}]}]}
          hs_call_status: {value: COMPLETED}
        """
    )
    record = mapping.render(answered_call())
    assert isinstance(record, RenderedRecord)
    assert record.fields["associations"] == [
        {"types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194}]}
    ]
    assert type(record.fields["associations"]) is list


def test_yaml_anchors_aliases_and_merge_keys(mapping_from):
    mapping = mapping_from(
        """
        version: 1
        object: Lead
        fields:
          Phone: &phone {from: caller.number, transform: e164}
          MobilePhone: *phone
          Campaign__c: &campaign {from: attribution.campaign, transform: {truncate: 100}}
          Keyword__c:
            <<: *campaign
            from: attribution.keyword
        """
    )
    record = mapping.render(answered_call())
    assert isinstance(record, RenderedRecord)
    assert record.fields["MobilePhone"] == "+14155550100"
    assert record.fields["Keyword__c"] == "plumber near me"
