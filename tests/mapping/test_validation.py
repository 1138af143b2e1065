"""Every kind of mapping mistake is reported with file, line and field, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.core.errors import ConfigError
from hub.mapping import load_mapping, load_mappings

HEAD = "version: 1\nobject: Lead\n"
FIELDS = "fields:\n  X: {value: x}\n"

# (mapping text, line, field, fragment of the message)
CASES = [
    # unknown keys, at every level
    (HEAD + "objects: Lead\n" + FIELDS, 3, "objects", "unknown key"),
    (
        HEAD + "when:\n  - {path: call.status, equal: answered}\n" + FIELDS,
        4,
        "when[0].equal",
        "did you mean 'equals'",
    ),
    (
        HEAD + "fields:\n  X: {from: caller.name, tranform: lower}\n",
        4,
        "fields.X.tranform",
        "did you mean 'transform'",
    ),
    # YAML 1.1 traps
    (HEAD + "on: [call.completed]\n" + FIELDS, 3, "on", "`on` is read as boolean true"),
    (
        HEAD + "when:\n  - {path: call.status, equals: no}\n" + FIELDS,
        4,
        "when[0].equals",
        "`no` is read as boolean false",
    ),
    (HEAD + "fields:\n  X: {value: yes}\n", 4, "fields.X.value", "`yes` is read as boolean true"),
    (
        HEAD + "fields:\n  X: {from: caller.name, default: off}\n",
        4,
        "fields.X.default",
        "`off` is read as boolean",
    ),
    (HEAD + "fields:\n  no: {value: x}\n", 4, "fields.no", "`no` is read as boolean false"),
    (
        HEAD + "fields:\n  S:\n    from: outcome.lead_status\n    transform: {map: {yes: a}}\n",
        6,
        "fields.S.transform.map",
        "`yes` is read as boolean true",
    ),
    (
        HEAD + "when:\n  - {path: caller.postal_code, equals: 02134}\n" + FIELDS,
        4,
        "when[0].equals",
        "read as the number 1116",
    ),
    (HEAD + 'when:\n  - {path: caller.postal_code, in: ["1", 94107]}\n' + FIELDS, 4, "when[0].in", "item 1"),
    (HEAD + "fields:\n  X: {value: 2024-05-01}\n", 4, "fields.X.value", "read as a date"),
    (
        HEAD + "fields:\n  X: {from: caller.name, transform: {join: no}}\n",
        4,
        "fields.X.transform.join",
        "`no`",
    ),
    # version
    ("version: 2\nobject: Lead\n" + FIELDS, 1, "version", "expected 1, got 2"),
    ("version: 1.0\nobject: Lead\n" + FIELDS, 1, "version", "expected 1, got 1.0"),
    ("version: yes\nobject: Lead\n" + FIELDS, 1, "version", "expected 1, got true"),
    ("object: Lead\n" + FIELDS, 1, "version", "missing"),
    # object / event
    ("version: 1\n" + FIELDS, 1, "object", "missing"),
    (HEAD + "event: phone_call\n" + FIELDS, 3, "object", "both"),
    ("version: 1\nobject: ''\n" + FIELDS, 2, "object", "must not be empty"),
    # events
    (HEAD + "events: [call.completed, call.ended]\n" + FIELDS, 3, "events[1]", "unknown kind 'call.ended'"),
    (HEAD + "events: []\n" + FIELDS, 3, "events", "non-empty list"),
    (HEAD + "events: call.completed\n" + FIELDS, 3, "events", "non-empty list"),
    # when: paths, operators, operand types
    (
        HEAD + "when:\n  - {path: caller.phone, exists: true}\n" + FIELDS,
        4,
        "when[0].path",
        "unknown path 'caller.phone'",
    ),
    (HEAD + "when:\n  - {path: call.status}\n" + FIELDS, 4, "when[0]", "needs one operator"),
    (HEAD + "when:\n  - {path: call.status, equals: a, in: [b]}\n" + FIELDS, 4, "when[0]", "2 operators"),
    (HEAD + "when:\n  - {equals: a}\n" + FIELDS, 4, "when[0]", "missing `path`"),
    (HEAD + "when:\n  - {path: caller.name, gte: 60}\n" + FIELDS, 4, "when[0].gte", "compares numbers"),
    (
        HEAD + "when:\n  - {path: call.duration_s, gte: '60'}\n" + FIELDS,
        4,
        "when[0].gte",
        "expected a number",
    ),
    (
        HEAD + "when:\n  - {path: call.duration_s, contains: 6}\n" + FIELDS,
        4,
        "when[0].contains",
        "needs a list or text",
    ),
    (
        HEAD + "when:\n  - {path: call.duration_s, equals: long}\n" + FIELDS,
        4,
        "when[0].equals",
        "expected a number",
    ),
    (
        HEAD + "when:\n  - {path: call.spam, equals: 'true'}\n" + FIELDS,
        4,
        "when[0].equals",
        "expected true or false",
    ),
    (
        HEAD + "when:\n  - {path: outcome.tags, equals: booked}\n" + FIELDS,
        4,
        "when[0].equals",
        "use `contains`",
    ),
    (HEAD + "when:\n  - {path: call.started_at, gte: 1}\n" + FIELDS, 4, "when[0].gte", "compares numbers"),
    (
        HEAD + "when:\n  - {path: call.status, equals: completed}\n" + FIELDS,
        4,
        "when[0].equals",
        "never occurs",
    ),
    (HEAD + "when:\n  - {path: call.status, equals: null}\n" + FIELDS, 4, "when[0].equals", "exists: false"),
    (HEAD + "when:\n  - {path: call.status, in: []}\n" + FIELDS, 4, "when[0].in", "non-empty list"),
    (
        HEAD + "when:\n  - {path: attribution.gclid, exists: 1}\n" + FIELDS,
        4,
        "when[0].exists",
        "true or false",
    ),
    (
        HEAD
        + "when:\n  - any:\n      - {path: call.status, equals: answered}\n      - {path: x.y, exists: true}\n"
        + FIELDS,
        6,
        "when[0].any[1].path",
        "unknown path",
    ),
    (HEAD + "when:\n  - any: []\n" + FIELDS, 4, "when[0].any", "non-empty list"),
    (
        HEAD + "when:\n  - any: [{path: call.spam, equals: true}]\n    path: call.status\n" + FIELDS,
        5,
        "when[0].path",
        "takes no other key",
    ),
    (HEAD + "when: {path: call.status, equals: answered}\n" + FIELDS, 3, "when", "expected a list"),
    (HEAD + "when:\n  - call.status\n" + FIELDS, 4, "when[0]", "expected a condition"),
    # fields: from / value, paths, transforms
    (HEAD + "fields:\n  X: {from: caller.name, value: x}\n", 4, "fields.X", "exactly one of `from`"),
    (HEAD + "fields:\n  X: {transform: lower}\n", 4, "fields.X", "exactly one of `from`"),
    (HEAD + "fields:\n  X: caller.name\n", 4, "fields.X", "expected a rule"),
    (
        HEAD + "fields:\n  X: {from: [caller.name, caller.nmae]}\n",
        4,
        "fields.X.from[1]",
        "did you mean 'caller.name'",
    ),
    (HEAD + "fields:\n  X: {from: custom}\n", 4, "fields.X.from", "unknown path 'custom'"),
    (HEAD + "fields:\n  X: {from: []}\n", 4, "fields.X.from", "non-empty list"),
    (
        HEAD + "fields:\n  X: {from: caller.name, transform: titlecase}\n",
        4,
        "fields.X.transform",
        "unknown transform",
    ),
    (
        HEAD + "fields:\n  X:\n    from: caller.name\n    transform:\n      - lower\n      - e146\n",
        8,
        "fields.X.transform[1]",
        "did you mean 'e164'",
    ),
    (
        HEAD + "fields:\n  X: {from: caller.name, transform: {truncate: -1}}\n",
        4,
        "fields.X.transform.truncate",
        "above 0",
    ),
    (
        HEAD + "fields:\n  X: {from: caller.name, transform: {truncate: '80'}}\n",
        4,
        "fields.X.transform.truncate",
        "whole number",
    ),
    (
        HEAD + "fields:\n  X: {from: caller.name, transform: truncate}\n",
        4,
        "fields.X.transform",
        "needs an argument",
    ),
    (
        HEAD + "fields:\n  X: {from: caller.name, transform: {lower: true}}\n",
        4,
        "fields.X.transform",
        "takes no argument",
    ),
    (
        HEAD + "fields:\n  X: {from: caller.name, transform: {map: []}}\n",
        4,
        "fields.X.transform.map",
        "expected a mapping",
    ),
    (
        HEAD + "fields:\n  X: {from: caller.name, transform: {truncate: 5, lower: null}}\n",
        4,
        "fields.X.transform",
        "one-key mapping",
    ),
    (
        HEAD + "fields:\n  X: {from: caller.name, transform: minutes}\n",
        4,
        "fields.X.transform",
        "`minutes` expects integer or number but caller.name gives text",
    ),
    (
        HEAD + "fields:\n  X: {from: call.started_at, transform: e164}\n",
        4,
        "fields.X.transform",
        "gives datetime",
    ),
    (
        HEAD + "fields:\n  X: {from: caller.name, transform: {join: ','}}\n",
        4,
        "fields.X.transform",
        "`join` expects list",
    ),
    (HEAD + "fields:\n  X: {from: outcome.tags, transform: lower}\n", 4, "fields.X.transform", "gives list"),
    (
        HEAD + "fields:\n  X: {from: call.duration_s, transform: [minutes, upper]}\n",
        4,
        "fields.X.transform",
        "`upper` expects text but call.duration_s gives number",
    ),
    (
        HEAD + "fields:\n  X: {from: outcome.qualified, transform: {map: {yes_please: a}}}\n",
        4,
        "fields.X.transform.map",
        "never matches a boolean",
    ),
    (
        HEAD + "fields:\n  X: {from: call.status, transform: {map: {complete: a}}}\n",
        4,
        "fields.X.transform.map",
        "never occurs",
    ),
    (
        HEAD + "fields:\n  X: {value: x, transform: upper}\n",
        4,
        "fields.X.transform",
        "no effect with `value`",
    ),
    (HEAD + "fields:\n  X: {value: null}\n", 4, "fields.X.value", "remove the key"),
    (HEAD + "fields:\n  X: {value: ''}\n", 4, "fields.X.value", "blank text is never sent"),
    (HEAD + "fields:\n  X: {value: [a, on]}\n", 4, "fields.X.value", "`on` is read as boolean true"),
    (
        HEAD + "fields:\n  X: {from: call.duration_s, default: none}\n",
        4,
        "fields.X.default",
        "'none' does not fit the integer values",
    ),
    (
        HEAD + "fields:\n  X: {from: call.duration_s, transform: minutes, default: 'n/a'}\n",
        4,
        "fields.X.default",
        "does not fit the number values",
    ),
    (
        HEAD + "fields:\n  X: {from: outcome.lead_status, transform: {map: {good_lead: yes}}}\n",
        4,
        "fields.X.transform.map",
        "'good_lead': `yes` is read as boolean true",
    ),
    (HEAD + "fields:\n  X: {from: caller.name, required: 'yes'}\n", 4, "fields.X.required", "true or false"),
    (HEAD + "fields: {}\n", 3, "fields", "expected a mapping"),
    (HEAD, 1, "fields", "missing"),
    # match
    (HEAD + "match: [Phone]\n" + FIELDS, 3, "match[0]", "'Phone' is not among fields"),
    (HEAD + "match: [X, X]\n" + FIELDS, 3, "match[1]", "listed twice"),
    (HEAD + "match: X\n" + FIELDS, 3, "match", "expected a list"),
    # options
    (HEAD + "options: [a]\n" + FIELDS, 3, "options", "expected a mapping"),
    # YAML itself
    (HEAD + "fields:\n  X: {value: x\n", 5, "yaml", "expected ',' or '}'"),
    (HEAD + "object: Contact\n" + FIELDS, 3, "yaml", "duplicate key 'object'"),
    ("- just\n- a list\n", 1, "file", "expected a mapping"),
    ("", 1, "file", "expected a mapping"),
]


@pytest.mark.parametrize(("text", "line", "field", "fragment"), CASES, ids=[f"{c[2]}-{c[3]}" for c in CASES])
def test_problem_names_file_line_and_field(problems_of, text, line, field, fragment):
    problems = problems_of(text)
    prefix = f"lead.yaml:{line}: {field}: "
    assert any(problem.startswith(prefix) and fragment in problem for problem in problems), problems


BROKEN = """\
version: 2
object: Lead
events: [call.complete]
when:
  - {path: call.status, equals: no}
  - {path: caller.nmber, exists: true}
match: [Phone]
fields:
  Email: {from: caller.email, transform: e165}
  Minutes: {from: caller.name, transform: minutes}
"""


def test_every_problem_is_reported_in_file_order(write_mapping):
    with pytest.raises(ConfigError) as caught:
        load_mapping(write_mapping(BROKEN), display_path="mappings/salesforce/lead.yaml")
    lines = [int(problem.split(":")[1]) for problem in caught.value.problems]
    assert lines == [1, 3, 5, 6, 7, 9, 10]
    assert all(problem.startswith("mappings/salesforce/lead.yaml:") for problem in caught.value.problems)


def test_display_path_defaults_to_the_path(write_mapping):
    path = write_mapping("version: 3\nobject: Lead\n" + FIELDS)
    with pytest.raises(ConfigError) as caught:
        load_mapping(path)
    assert caught.value.problems == [f"{path}:1: version: expected 1, got 3"]


def test_load_mappings_collects_problems_of_every_file(write_mapping):
    good = write_mapping(HEAD + FIELDS)
    first = write_mapping("version: 2\nobject: Lead\n" + FIELDS)
    second = write_mapping(HEAD + "fields:\n  X: {from: nowhere}\n")
    with pytest.raises(ConfigError) as caught:
        load_mappings([good, first, second])
    assert [problem.split(":")[0] for problem in caught.value.problems] == [str(first), str(second)]
    assert [m.target for m in load_mappings([good])] == ["Lead"]


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.yaml:1: file: cannot read"):
        load_mapping(tmp_path / "missing.yaml")


class _StrictConnector:
    """Stands in for a connector class: only the mapping-checking classmethods are used."""

    @classmethod
    def field_problems(cls, record_target, field_names):
        return []

    @classmethod
    def mapping_problems(cls, record_target, options):
        problems = [] if record_target in ("Lead", "Task") else [f"unknown object {record_target!r}"]
        problems += [f"options.{key}: unknown option" for key in options if key != "duplicates"]
        if "duplicates" in options:
            problems.append(f"option duplicates: {options['duplicates']!r} is not a policy")
        return problems


def test_connector_checks_target_and_options(write_mapping):
    path = write_mapping("version: 1\nobject: Leed\noptions:\n  duplicate: hold\n  duplicates: x\n" + FIELDS)
    with pytest.raises(ConfigError) as caught:
        load_mapping(path, display_path="lead.yaml", connector=_StrictConnector)  # type: ignore[arg-type]
    assert caught.value.problems == [
        "lead.yaml:2: object: unknown object 'Leed'",
        "lead.yaml:3: options.duplicate: unknown option",
        "lead.yaml:3: options: option duplicates: 'x' is not a policy",
    ]
    ok = write_mapping("version: 1\nobject: Lead\n" + FIELDS)
    assert load_mappings([Path(ok)], connector_for=lambda _: _StrictConnector)[0].target == "Lead"  # type: ignore[arg-type, return-value]


@pytest.mark.parametrize(
    "text",
    [
        HEAD
        + "when:\n  - {path: custom.anything.deep, gte: 3}\n  - {path: custom.tag, contains: x}\n"
        + FIELDS,
        HEAD + "fields:\n  X: {from: custom.when, transform: date}\n",
        HEAD + "fields:\n  X: {from: outcome.qualified, transform: {map: {true: hot, false: cold}}}\n",
        HEAD + "fields:\n  X: {from: caller.name, transform: {map: {'no': x, 'on': y}}}\n",
        HEAD + "fields:\n  X: {value: true}\n  Y: {value: 'no'}\n",
        HEAD + "when:\n  - {path: call.spam, equals: no}\n" + FIELDS,
        HEAD + "events: [unknown]\n" + FIELDS,
        "version: 1\nevent: phone_call\noptions:\n" + FIELDS,
    ],
)
def test_valid_mappings_load(mapping_from, text):
    mapping_from(text)
