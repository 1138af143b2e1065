"""Differences between two renderings, as `hub preview --mapping` prints them."""

from __future__ import annotations

from hub.core.records import RenderedRecord, Skip
from hub.mapping import diff_records

CURRENT = RenderedRecord(
    "mappings/salesforce/lead.yaml",
    "Lead",
    {"Phone": "+14155550100", "Status": "Open", "Old__c": 1},
    ("Phone",),
)


def test_identical_renderings_have_no_lines():
    assert (
        diff_records([CURRENT, Skip("task.yaml", "when: x")], [CURRENT, Skip("task.yaml", "when: x")]) == []
    )


def test_candidate_file_for_the_same_target_is_compared_field_by_field():
    candidate = RenderedRecord(
        "new.yaml",
        "Lead",
        {"Phone": "+14155550100", "Status": "Qualified", "GCLID__c": "abc"},
        ("Phone",),
        {"duplicates": "hold"},
    )
    assert diff_records([CURRENT], [candidate]) == [
        "~ Lead (new.yaml)",
        '    options: {} -> {"duplicates": "hold"}',
        '    ~ Status: "Open" -> "Qualified"',
        "    - Old__c: 1 (no longer sent)",
        '    + GCLID__c: "abc"',
    ]


def test_record_now_skipped_and_skip_now_written():
    skipped = Skip("mappings/salesforce/lead.yaml", "when: call.duration_s gte 60")
    assert diff_records([CURRENT], [skipped]) == [
        "- Lead (mappings/salesforce/lead.yaml): no longer written (when: call.duration_s gte 60)",
        '    - Phone: "+14155550100" (no longer sent)',
        '    - Status: "Open" (no longer sent)',
        "    - Old__c: 1 (no longer sent)",
    ]
    assert diff_records([skipped], [CURRENT])[0] == (
        "+ Lead (mappings/salesforce/lead.yaml): now written (was skipped: when: call.duration_s gte 60)"
    )


def test_skip_reason_change():
    assert diff_records([Skip("a.yaml", "events: call.started")], [Skip("a.yaml", "when: call.spam")]) == [
        "~ a.yaml (skipped: when: call.spam): still skipped, now because when: call.spam (was events: call.started)"
    ]


def test_added_and_removed_records():
    task = RenderedRecord("task.yaml", "Task", {"Subject": "Call"})
    lines = diff_records([CURRENT], [CURRENT, task])
    assert lines == ["+ Task (task.yaml): newly rendered", '    + Subject: "Call"']
    assert diff_records([CURRENT, task], [CURRENT])[0] == "- Task (task.yaml): no longer rendered"


def test_target_and_match_changes():
    contact = RenderedRecord(
        "mappings/salesforce/lead.yaml", "Contact", dict(CURRENT.fields), ("Phone", "Status")
    )
    assert diff_records([CURRENT], [contact]) == [
        "~ Contact (mappings/salesforce/lead.yaml)",
        "    target: Lead -> Contact",
        '    match: ["Phone"] -> ["Phone", "Status"]',
    ]
