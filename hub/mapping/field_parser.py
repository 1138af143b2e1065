"""Validate `fields:` rules: sources, constants, transform chains and their value kinds."""

from __future__ import annotations

from datetime import date
from typing import Any, Final

from hub.core.yamlsource import YamlList, YamlMap, to_plain
from hub.mapping.model import FieldRule
from hub.mapping.paths import Kind, kind_of_path, path_kinds
from hub.mapping.problems import Problems, expect_text, shown, suggest, trap_hint
from hub.mapping.transform_parser import check_chain, parse_steps
from hub.mapping.transforms import Step

RULE_KEYS: Final = ("from", "value", "transform", "default", "required")


def parse_fields(node: Any, line: int, problems: Problems) -> tuple[FieldRule, ...]:
    if not isinstance(node, YamlMap) or not node:
        problems.add(line, "fields", f"expected a mapping of destination field -> rule, got {shown(node)}")
        return ()
    rules = []
    for name, rule_node in node.items():
        field_line = node.line_of(name)
        name_problem = expect_text(name, node.raw_keys.get(name))
        if name_problem:
            problems.add(field_line, f"fields.{node.raw_keys.get(name, name)}", f"field name: {name_problem}")
            continue
        rule = _rule(name, rule_node, field_line, problems)
        if rule is not None:
            rules.append(rule)
    return tuple(rules)


def _rule(name: str, node: Any, line: int, problems: Problems) -> FieldRule | None:
    where = f"fields.{name}"
    if not isinstance(node, YamlMap):
        problems.add(
            line, where, f"expected a rule like {{from: caller.number}} or {{value: ...}}, got {shown(node)}"
        )
        return None
    count = len(problems.items)
    for key in node:
        if key not in RULE_KEYS:
            hint = trap_hint(key, node.raw_keys.get(key))
            problems.add(
                node.line_of(key),
                f"{where}.{key}",
                f"unknown key{suggest(str(key), RULE_KEYS)}{'; ' + hint if hint else ''}",
            )
    has_from, has_value = "from" in node, "value" in node
    if has_from == has_value:
        problems.add(line, where, "needs exactly one of `from` (event paths) or `value` (a constant)")
        return None
    required = node.get("required", False)
    if not isinstance(required, bool):
        problems.add(
            node.line_of("required"), f"{where}.required", f"expected true or false, got {shown(required)}"
        )
    if has_value:
        return _constant(name, node, where, line, problems, count, required is True)
    sources = _sources(node["from"], node.line_of("from"), f"{where}.from", problems)
    steps: tuple[Step, ...] = ()
    gives = {rendered_kind(kind_of_path(path)) for path in sources}
    if "transform" in node:
        steps = parse_steps(node["transform"], node.line_of("transform"), f"{where}.transform", problems)
        if steps and sources:
            gives = set(
                check_chain(sources, steps, node.line_of("transform"), f"{where}.transform", problems)
            )
    default = node.get("default")
    if "default" in node:
        problem = _literal_problem(default, node.raw.get("default")) or _default_kind_problem(default, gives)
        if problem:
            problems.add(node.line_of("default"), f"{where}.default", problem)
    if len(problems.items) > count:
        return None
    return FieldRule(name, sources, None, steps, default, required is True, line)


def _constant(
    name: str, node: YamlMap, where: str, line: int, problems: Problems, count: int, required: bool
) -> FieldRule | None:
    for useless in ("transform", "default"):
        if useless in node:
            problems.add(
                node.line_of(useless),
                f"{where}.{useless}",
                "has no effect with `value`; write the final constant",
            )
    value = node["value"]
    problem = _literal_problem(value, node.raw.get("value"))
    if problem:
        problems.add(node.line_of("value"), f"{where}.value", problem)
    if len(problems.items) > count:
        return None
    return FieldRule(name, (), to_plain(value), (), None, required, line)


def _literal_problem(value: Any, raw: str | None) -> str | None:
    """Constants and defaults: JSON-ready, never a date object or a YAML 1.1 boolean word."""
    if value is None:
        return "null leaves the field out anyway; remove the key"
    if isinstance(value, str) and not value.strip():
        return "blank text is never sent (fields without a value are left out); remove the key"
    if isinstance(value, YamlMap):
        items = [(item, value.raw.get(key)) for key, item in value.items()]
    elif isinstance(value, YamlList):
        items = list(zip(value, value.raw, strict=True))
    else:
        items = []
    for item, item_raw in items:
        problem = _literal_problem(item, item_raw)
        if problem:
            return problem
    if isinstance(value, date):
        return trap_hint(value, raw or str(value))
    if isinstance(value, bool) and raw is not None and raw.lower() not in ("true", "false"):
        return f"`{raw}` is read as boolean {shown(value)} by YAML 1.1; write {shown(value)} or quote '{raw}'"
    return None


def rendered_kind(kind: Kind | None) -> Kind | None:
    """The kind a path's value has once rendered without transforms; None when not worth comparing.

    Times render as text. Decimals (`outcome.value`) render as exact text, which a numeric default
    would contradict only nominally, so they are not compared.
    """
    if kind == "datetime":
        return "text"
    return None if kind == "number" else kind


def _default_kind_problem(default: Any, gives: set[Kind | None]) -> str | None:
    """A default of another kind than the rule's values sends two types into one field."""
    kinds = {kind for kind in gives if kind is not None}
    if len(kinds) != 1 or kinds & {"any", "list"}:
        return None
    (kind,) = kinds
    if isinstance(default, bool):
        fits = kind == "boolean"
    elif isinstance(default, (int, float)):
        fits = kind in ("integer", "number")
    elif isinstance(default, str):
        fits = kind == "text"
    else:
        fits = False
    return None if fits else f"{shown(default)} does not fit the {kind} values this rule gives"


def _sources(node: Any, line: int, where: str, problems: Problems) -> tuple[str, ...]:
    if isinstance(node, YamlList):
        if not node:
            problems.add(line, where, "expected a path or a non-empty list of fallback paths")
            return ()
        items = [
            (item, node.line_of(index), f"{where}[{index}]", node.raw[index])
            for index, item in enumerate(node)
        ]
    else:
        items = [(node, line, where, None)]
    paths = []
    for path, path_line, path_where, raw in items:
        problem = expect_text(path, raw)
        if problem:
            problems.add(path_line, path_where, problem)
        elif kind_of_path(path) is None:
            problems.add(path_line, path_where, f"unknown path {path!r}{suggest(path, path_kinds())}")
        else:
            paths.append(path)
    return tuple(paths) if len(paths) == len(items) else ()
