"""Online lint: a mapping checked against the destination's live schema (`hub check --online`).

Offline validation knows the event; only the destination knows its fields. This catches what the
destination would reject record after record: unknown or read-only fields, picklist values it
does not allow, values too long, and required fields the mapping leaves empty.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable
from typing import Any, Final

from connectors.base import FieldSchema, TargetSchema
from hub.mapping.conditions import Test
from hub.mapping.model import FieldRule, Mapping
from hub.mapping.paths import VOCABULARIES
from hub.mapping.problems import Problems
from hub.mapping.transforms import TRANSFORM_SPECS, Step, TransformError, run_steps

# A top-level condition with one of these holds only when its path has a value.
_PRESENCE_OPERATORS: Final = frozenset({"exists", "equals", "in", "gte", "lte", "contains"})
_NUMERIC_TYPES: Final = frozenset({"double", "number", "currency", "int", "integer", "percent", "long"})


def lint_against_schema(mapping: Mapping, schema: TargetSchema) -> list[str]:
    """Problems that the destination would reject, each `file:line: field: message`, in file order."""
    problems = Problems(mapping.path)
    for rule in mapping.fields:
        where = f"fields.{rule.name}"
        described = describe_field(schema, rule.name)
        if described is None:
            message = f"{schema.target} has no field {rule.name!r}{_suggest(rule.name, schema.fields)}"
            problems.add(rule.line, where, message)
            continue
        for message in _field_problems(mapping, rule, described, schema.target):
            problems.add(rule.line, where, message)
    for name, described in schema.fields.items():
        if not (described.required and described.createable):
            continue
        filling = next((rule for rule in mapping.fields if rule.name == name), None)
        if filling is None:
            message = f"{schema.target} requires {name!r}, which the mapping never fills"
            problems.add(mapping.lines.get("fields", 1), "fields", message)
        elif not _always_filled(mapping, filling):
            problems.add(
                filling.line,
                f"fields.{name}",
                f"{schema.target} requires it but a call may have no value for {' / '.join(filling.sources)}; "
                "add a `default:` (or `required: true` to fail visibly)",
            )
    return problems.sorted()


def describe_field(schema: TargetSchema, name: str) -> FieldSchema | None:
    """The schema of a field; a `prefix.*` entry describes open families such as GA4 `params.*`."""
    if name in schema.fields:
        return schema.fields[name]
    patterns = sorted((key for key in schema.fields if key.endswith("*")), key=len, reverse=True)
    return next((schema.fields[key] for key in patterns if fnmatch.fnmatchcase(name, key)), None)


def _always_filled(mapping: Mapping, rule: FieldRule) -> bool:
    """A constant, a default, `required: true`, or an untransformed path the `when:` list guarantees."""
    if rule.is_constant or rule.required or rule.default is not None:
        return True
    guaranteed = {
        condition.path
        for condition in mapping.when
        if isinstance(condition, Test) and condition.operator in _PRESENCE_OPERATORS
        if condition.operator != "exists" or condition.operand is True
    }
    return not rule.steps and any(path in guaranteed for path in rule.sources)


def _field_problems(mapping: Mapping, rule: FieldRule, described: FieldSchema, target: str) -> list[str]:
    problems: list[str] = []
    if not described.createable and not described.updateable:
        return [f"{target}.{rule.name} is read-only"]
    if not described.createable:
        problems.append(f"{target}.{rule.name} cannot be set on create")
    # Only a mapping with match keys updates records it finds; one without them only creates.
    if not described.updateable and mapping.match:
        problems.append(f"{target}.{rule.name} cannot be updated, so writing a matched record is rejected")
    outputs = list(_known_outputs(rule))
    if described.picklist is not None:
        allowed = set(described.picklist)
        for output in outputs:
            if _as_text(output) not in allowed:
                problems.append(
                    f"{_as_text(output)!r} is not an allowed value of {target}.{rule.name} "
                    f"({', '.join(described.picklist)})"
                )
    if described.max_length is not None:
        problems.extend(_length_problems(rule, outputs, described.max_length, f"{target}.{rule.name}"))
    problems.extend(_type_problems(rule, outputs, described, f"{target}.{rule.name}"))
    return problems


def _known_outputs(rule: FieldRule) -> Iterable[Any]:
    """Every value the rule can send that is known without a call: constants, defaults, map outputs."""
    if rule.is_constant:
        yield rule.value
        return
    if rule.default is not None:
        yield rule.default
    map_index = next((index for index, step in enumerate(rule.steps) if step.name == "map"), None)
    if map_index is not None:
        vocabulary = rule.steps[map_index].argument
        candidates = [value for value in vocabulary.values() if value is not None]
        yield from _through(rule.steps[map_index + 1 :], candidates)
    elif len(rule.sources) == 1 and rule.sources[0] in VOCABULARIES:
        yield from _through(rule.steps, list(VOCABULARIES[rule.sources[0]]))


def _through(steps: tuple[Step, ...], values: list[Any]) -> Iterable[Any]:
    for value in values:
        try:
            result = run_steps(steps, value)
        except TransformError:
            continue
        if result is not None:
            yield result


def _length_problems(rule: FieldRule, outputs: list[Any], max_length: int, label: str) -> list[str]:
    problems = [
        f"{_as_text(output)!r} is {len(_as_text(output))} characters; {label} takes at most {max_length}"
        for output in outputs
        if isinstance(output, str) and len(output) > max_length
    ]
    truncations = [step.argument for step in rule.steps if step.name == "truncate"]
    if truncations and min(truncations) > max_length:
        problems.append(
            f"truncate({min(truncations)}) lets through more than the {max_length} characters {label} takes"
        )
    return problems


def _type_problems(rule: FieldRule, outputs: list[Any], described: FieldSchema, label: str) -> list[str]:
    kind = described.type.lower()
    if kind in ("boolean", "bool", "checkbox"):
        wrong = [output for output in outputs if not isinstance(output, bool)]
        return [f"{label} is a boolean; {_as_text(output)!r} is not" for output in wrong]
    if kind in _NUMERIC_TYPES:
        wrong = [output for output in outputs if isinstance(output, bool) or not _is_number(output)]
        problems = [f"{label} is a number; {_as_text(output)!r} is not" for output in wrong]
        last = TRANSFORM_SPECS[rule.steps[-1].name].returns if rule.steps else None
        if last == "text":
            problems.append(f"{label} is a number but `{rule.steps[-1].name}` produces text")
        return problems
    return []


def _is_number(value: Any) -> bool:
    if isinstance(value, (int, float)):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _suggest(name: str, choices: Iterable[str]) -> str:
    by_lower = {choice.lower(): choice for choice in choices}
    if name.lower() in by_lower:
        return f" (did you mean {by_lower[name.lower()]!r}?)"
    close = difflib.get_close_matches(name, list(by_lower.values()), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""
