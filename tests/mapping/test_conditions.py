"""Every `when:` operator and group, including how missing values behave."""

from __future__ import annotations

import pytest

from hub.core.events import Attribution, Call, Caller, Outcome
from hub.core.records import RenderedRecord, Skip
from hub.mapping.conditions import OPERATORS
from tests.mapping.conftest import answered_call

CALL = answered_call()
NO_DATA = answered_call(call=Call(), caller=Caller(), attribution=Attribution(), outcome=Outcome(), custom={})

CASES = [
    # (condition, holds for CALL, holds for NO_DATA)
    ("{path: call.status, equals: answered}", True, False),
    ("{path: call.status, equals: missed}", False, False),
    ("{path: call.first_call, equals: true}", True, False),
    ("{path: custom.score, equals: 7}", True, False),
    ("{path: call.status, not_equals: missed}", True, True),
    ("{path: call.spam, not_equals: true}", True, True),
    ("{path: call.status, in: [answered, voicemail]}", True, False),
    ("{path: call.status, in: [missed, busy]}", False, False),
    ("{path: call.status, not_in: [missed, busy]}", True, True),
    ("{path: call.duration_s, gte: 125}", True, False),
    ("{path: call.duration_s, gte: 126}", False, False),
    ("{path: outcome.value, gte: 250.5}", True, False),
    ("{path: call.duration_s, lte: 125}", True, False),
    ("{path: call.duration_s, lte: 60}", False, False),
    ("{path: attribution.gclid, exists: true}", True, False),
    ("{path: caller.name, exists: false}", False, True),
    ("{path: outcome.tags, contains: booked}", True, False),
    ("{path: outcome.tags, contains: lost}", False, False),
    ("{path: attribution.keyword, contains: PLUMBER}", True, False),
    ("{path: custom.crm.owner, contains: team}", True, False),
    ("{any: [{path: call.status, equals: missed}, {path: call.first_call, equals: true}]}", True, False),
    ("{any: [{path: call.status, equals: missed}, {path: call.spam, equals: true}]}", False, False),
    ("{all: [{path: call.status, equals: answered}, {path: call.duration_s, gte: 60}]}", True, False),
    ("{all: [{path: call.status, equals: answered}, {path: call.duration_s, gte: 600}]}", False, False),
    ("{any: [{all: [{path: call.spam, equals: false}]}, {path: caller.name, exists: false}]}", True, True),
]


@pytest.mark.parametrize(("condition", "on_call", "on_empty"), CASES, ids=[case[0] for case in CASES])
def test_operator(mapping_from, condition, on_call, on_empty):
    mapping = mapping_from(f"version: 1\nobject: Lead\nwhen:\n  - {condition}\nfields:\n  X: {{value: x}}\n")
    assert isinstance(mapping.render(CALL), RenderedRecord) is on_call
    assert isinstance(mapping.render(NO_DATA), RenderedRecord) is on_empty


def test_every_operator_is_covered():
    used = {case[0].split(",")[1].split(":")[0].strip() for case in CASES if case[0].startswith("{path")}
    assert used == set(OPERATORS)


def test_boolean_path_never_equals_a_number(mapping_from):
    mapping = mapping_from(
        "version: 1\nobject: Lead\nwhen:\n  - {path: custom.flag, equals: 1}\nfields:\n  X: {value: x}\n"
    )
    assert isinstance(mapping.render(answered_call(custom={"flag": True})), Skip)
    assert isinstance(mapping.render(answered_call(custom={"flag": 1})), RenderedRecord)


def test_group_skip_reason_lists_its_members(mapping_from):
    mapping = mapping_from(
        """
        version: 1
        object: Lead
        when:
          - any:
              - {path: call.status, equals: missed}
              - {path: call.status, in: [busy, failed]}
        fields:
          X: {value: x}
        """
    )
    assert mapping.render(CALL) == Skip(
        "lead.yaml", "when: any of (call.status equals missed, call.status in [busy, failed])"
    )
