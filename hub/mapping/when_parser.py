"""Validate a `when:` list into conditions, reporting every problem with its line."""

from __future__ import annotations

from typing import Any

from hub.core.yamlsource import YamlList, YamlMap
from hub.mapping.conditions import GROUPS, OPERATORS, Condition, Group, Test
from hub.mapping.paths import NUMERIC_KINDS, VOCABULARIES, Kind, kind_of_path, path_kinds
from hub.mapping.problems import Problems, expect_text, kind_problem, shown, suggest, trap_hint


def parse_when(node: Any, line: int, problems: Problems) -> tuple[Condition, ...]:
    """The top-level `when:` list (all must hold)."""
    if not isinstance(node, YamlList):
        problems.add(line, "when", f"expected a list of conditions, got {shown(node)}")
        return ()
    return _conditions(node, "when", problems)


def _conditions(items: YamlList, where: str, problems: Problems) -> tuple[Condition, ...]:
    parsed = (
        _condition(item, f"{where}[{index}]", items.line_of(index), problems)
        for index, item in enumerate(items)
    )
    return tuple(condition for condition in parsed if condition is not None)


def _condition(node: Any, where: str, line: int, problems: Problems) -> Condition | None:
    if not isinstance(node, YamlMap):
        problems.add(
            line,
            where,
            f"expected a condition like {{path: call.status, equals: answered}}, got {shown(node)}",
        )
        return None
    groups = [key for key in node if key in GROUPS]
    if groups:
        return _group(node, groups, where, problems)
    return _test(node, where, problems)


def _group(node: YamlMap, groups: list[Any], where: str, problems: Problems) -> Group | None:
    mode = groups[0]
    extra = [key for key in node if key != mode]
    for key in extra:
        problems.add(node.line_of(key), f"{where}.{key}", f"a `{mode}:` group takes no other key")
    members = node[mode]
    if not isinstance(members, YamlList) or not members:
        problems.add(
            node.line_of(mode),
            f"{where}.{mode}",
            f"expected a non-empty list of conditions, got {shown(members)}",
        )
        return None
    conditions = _conditions(members, f"{where}.{mode}", problems)
    return Group(mode, conditions) if not extra and len(conditions) == len(members) else None


def _test(node: YamlMap, where: str, problems: Problems) -> Test | None:
    operators = [key for key in node if key in OPERATORS]
    ok = True
    for key in node:
        if key != "path" and key not in OPERATORS:
            hint = trap_hint(key, node.raw_keys.get(key)) or ""
            problems.add(
                node.line_of(key),
                f"{where}.{key}",
                f"unknown key{suggest(str(key), [*OPERATORS, 'path', *GROUPS])}{'; ' + hint if hint else ''}",
            )
            ok = False
    if "path" not in node:
        problems.add(node.line, where, "missing `path`")
        return None
    path = node["path"]
    text_problem = expect_text(path, node.raw.get("path"))
    if text_problem:
        problems.add(node.line_of("path"), f"{where}.path", text_problem)
        return None
    kind = kind_of_path(path)
    if kind is None:
        problems.add(
            node.line_of("path"), f"{where}.path", f"unknown path {path!r}{suggest(path, path_kinds())}"
        )
        ok = False
    if len(operators) != 1:
        allowed = ", ".join(OPERATORS)
        message = (
            "needs one operator"
            if not operators
            else f"has {len(operators)} operators; use one per condition"
        )
        problems.add(node.line, where, f"{message} ({allowed})")
        return None
    operator = operators[0]
    operand = node[operator]
    if kind is not None:
        problem = _operand_problem(path, kind, operator, operand, node.raw.get(operator))
        if problem:
            problems.add(node.line_of(operator), f"{where}.{operator}", problem)
            ok = False
    return Test(path, operator, tuple(operand) if isinstance(operand, list) else operand) if ok else None


def _operand_problem(path: str, kind: Kind, operator: str, operand: Any, raw: str | None) -> str | None:
    if operator == "exists":
        return None if isinstance(operand, bool) else f"expected true or false, got {shown(operand)}"
    if operator in ("gte", "lte"):
        if kind not in NUMERIC_KINDS and kind != "any":
            return f"compares numbers but {path} holds {kind}"
        is_number = isinstance(operand, (int, float)) and not isinstance(operand, bool)
        return None if is_number else f"expected a number, got {shown(operand)}"
    if operator == "contains":
        if kind not in ("list", "text", "any"):
            return f"needs a list or text but {path} holds {kind}"
        return expect_text(operand, raw)
    if operator in ("in", "not_in"):
        if not isinstance(operand, YamlList) or not operand:
            return f"expected a non-empty list of values, got {shown(operand)}"
        for index, option in enumerate(operand):
            problem = _value_problem(path, kind, option, operand.raw[index])
            if problem:
                return f"item {index}: {problem}"
        return None
    return _value_problem(path, kind, operand, raw)


def _value_problem(path: str, kind: Kind, value: Any, raw: str | None) -> str | None:
    problem = kind_problem(kind, value, raw)
    if problem is None and path in VOCABULARIES and value not in VOCABULARIES[path]:
        return f"{value!r} never occurs: {path} is one of {', '.join(VOCABULARIES[path])}"
    return problem
