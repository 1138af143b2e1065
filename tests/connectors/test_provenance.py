"""Field-level provenance: which call last set each field decides whether another call may."""

from __future__ import annotations

from connectors.base import MemoryContext
from connectors.provenance import FieldProvenance, Origin, merge_by_field, record_written

A = Origin("2026-05-01T15:00:00+00:00", "callrail:A")
B = Origin("2026-05-01T16:00:00+00:00", "callrail:B")


def test_an_older_call_may_set_what_no_newer_call_set() -> None:
    context = MemoryContext()
    provenance = FieldProvenance(context, "Lead", "00Q1")
    record_written(provenance, {"Phone": B, "Call_Source__c": B})

    again = FieldProvenance(context, "Lead", "00Q1")
    kept, held = again.admitted({"Status": "Working", "Call_Source__c": "facebook"}, A)

    assert kept == {"Status": "Working"}
    assert held == ["Call_Source__c"]
    # A later version of the newer call itself always may.
    assert again.admits("Call_Source__c", Origin(B.at, B.call))


def test_merge_keeps_per_field_the_newest_admitted_value() -> None:
    provenance = FieldProvenance(MemoryContext(), "Contact", "0031")
    provenance.note(["Status"], Origin("2026-05-01T15:30:00+00:00", "callrail:C"))

    body, origins, refused = merge_by_field(
        [(B, {"Call_Value__c": 10}), (A, {"Status": "Working", "Call_Value__c": 5, "Call_Tags__c": "x"})],
        provenance,
    )

    assert body == {"Call_Value__c": 10, "Call_Tags__c": "x"}
    assert origins == {"Call_Value__c": B, "Call_Tags__c": A}
    assert refused == {"Status"}


def test_a_record_from_before_provenance_counts_as_set_by_its_last_noted_call() -> None:
    provenance = FieldProvenance(MemoryContext(), "Lead", "00Q2")
    assert provenance.empty
    provenance.floor = B

    assert not provenance.admits("Status", A)
    assert provenance.admits("Status", Origin("2026-05-01T17:00:00+00:00", "callrail:D"))
