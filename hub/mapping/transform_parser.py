"""Validate `transform:` chains: names, arguments, and the value kinds that flow through them."""

from __future__ import annotations

from datetime import date
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.core.yamlsource import YamlList, YamlMap, is_trap
from hub.mapping.paths import VOCABULARIES, Kind, kind_of_path
from hub.mapping.problems import Problems, shown, suggest, trap_hint
from hub.mapping.transforms import MAP_DEFAULT, TRANSFORM_SPECS, Step


def parse_steps(node: Any, line: int, where: str, problems: Problems) -> tuple[Step, ...]:
    if isinstance(node, YamlList):
        if not node:
            problems.add(line, where, "expected a transform name or a non-empty list of steps")
            return ()
        parsed = [
            _step(item, node.line_of(index), f"{where}[{index}]", problems) for index, item in enumerate(node)
        ]
    else:
        parsed = [_step(node, line, where, problems)]
    steps = tuple(step for step in parsed if step is not None)
    return steps if len(steps) == len(parsed) else ()


def _step(node: Any, line: int, where: str, problems: Problems) -> Step | None:
    if isinstance(node, YamlMap):
        if len(node) != 1:
            problems.add(line, where, "a step with an argument is a one-key mapping, e.g. {truncate: 80}")
            return None
        name, argument = next(iter(node.items()))
        line, raw_argument = node.line_of(name), node.raw.get(name)
        has_argument = True
    else:
        name, argument, raw_argument, has_argument = node, None, None, False
    spec = TRANSFORM_SPECS.get(name) if isinstance(name, str) else None
    if spec is None:
        problems.add(
            line,
            where,
            f"unknown transform {shown(name)}{suggest(str(name), TRANSFORM_SPECS)}; known: {', '.join(TRANSFORM_SPECS)}",
        )
        return None
    if spec.argument == "none":
        if has_argument:
            problems.add(line, where, f"`{name}` takes no argument; write just {name}")
            return None
        return Step(name)
    if not has_argument:
        if spec.argument == "zone":
            return Step(name)  # the zone is optional: UTC
        problems.add(
            line, where, f"`{name}` needs an argument, e.g. {_EXAMPLES[spec.argument].format(name=name)}"
        )
        return None
    problem = _argument_problem(spec.argument, argument, raw_argument)
    if problem:
        problems.add(line, f"{where}.{name}", problem)
        return None
    # A vocabulary stays a YamlMap (a dict) so later checks can quote its keys as written.
    return Step(name, argument)


_EXAMPLES: Final = {
    "length": "{{{name}: 80}}",
    "separator": '{{{name}: ", "}}',
    "vocabulary": "{{{name}: {{a: b}}}}",
    "zone": "{{{name}: America/New_York}}",
}


def _argument_problem(argument_kind: str, argument: Any, raw: str | None) -> str | None:
    if argument_kind == "length":
        ok = isinstance(argument, int) and not isinstance(argument, bool) and argument > 0
        return None if ok else f"expected a whole number above 0, got {shown(argument)}"
    if argument_kind == "zone":
        if isinstance(argument, str) and _known_zone(argument):
            return None
        return f"expected an IANA time zone such as America/New_York, got {shown(argument)}"
    if argument_kind == "separator":
        if isinstance(argument, str):
            return None
        return trap_hint(argument, raw) or f"expected text, got {shown(argument)}"
    if not isinstance(argument, YamlMap) or not argument:
        return f"expected a mapping of value -> replacement, got {shown(argument)}"
    for key, replacement in argument.items():
        if isinstance(replacement, (YamlMap, YamlList, date)):
            return f"{shown(key)}: expected a single value, got {shown(replacement)}"
        raw_replacement = argument.raw.get(key)
        if isinstance(replacement, bool) and is_trap(raw_replacement):
            return (
                f"{shown(key)}: `{raw_replacement}` is read as boolean {shown(replacement)} by YAML 1.1; "
                f"write {shown(replacement)} or quote '{raw_replacement}'"
            )
    return None


def check_chain(
    sources: tuple[str, ...], steps: tuple[Step, ...], line: int, where: str, problems: Problems
) -> set[Kind]:
    """Report steps that cannot take what reaches them; return the kinds the chain can give."""
    reported: set[str] = set()
    results: set[Kind] = set()
    for path in sources:
        kind: Kind | None = kind_of_path(path)
        for index, step in enumerate(steps):
            spec = TRANSFORM_SPECS[step.name]
            if kind is None:
                break
            if kind != "any" and kind not in spec.accepts:
                message = f"`{step.name}` expects {' or '.join(sorted(spec.accepts))} but {path} gives {kind}"
                if message not in reported:
                    reported.add(message)
                    problems.add(line, where, message)
                kind = None
                break
            if step.name == "map":
                vocabulary_problem = _vocabulary_problem(step.argument, kind, path if index == 0 else None)
                if vocabulary_problem and vocabulary_problem not in reported:
                    reported.add(vocabulary_problem)
                    problems.add(line, f"{where}.map", vocabulary_problem)
            kind = spec.returns or _map_result_kind(step.argument)
        if kind is not None:
            results.add(kind)
    return results


def _vocabulary_problem(vocabulary: dict[Any, Any], kind: Kind, path: str | None) -> str | None:
    """Map keys must have the kind of what enters the map (a `no:` key never matches text)."""
    for key in vocabulary:
        if key == MAP_DEFAULT:
            continue
        if kind == "text" and not isinstance(key, str):
            raw = vocabulary.raw_keys.get(key) if isinstance(vocabulary, YamlMap) else None
            hint = trap_hint(key, raw) or "quote it"
            return f"key {shown(key)} never matches text; {hint}"
        if kind == "boolean" and not isinstance(key, bool):
            return f"key {shown(key)} never matches a boolean; use true / false"
        if kind in ("integer", "number") and (isinstance(key, bool) or not isinstance(key, (int, float))):
            return f"key {shown(key)} never matches a number"
        if path in VOCABULARIES and key not in VOCABULARIES[path]:
            return f"key {key!r} never occurs: {path} is one of {', '.join(VOCABULARIES[path])}"
    return None


def _map_result_kind(vocabulary: dict[Any, Any]) -> Kind:
    values = [value for value in vocabulary.values() if value is not None]
    if values and all(isinstance(value, str) for value in values):
        return "text"
    if values and all(isinstance(value, bool) for value in values):
        return "boolean"
    if values and all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        return "integer"
    return "any"


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
