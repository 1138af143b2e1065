"""The `fields:` section of a definition: one rule per normalized path, checked strictly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from hub.core.errors import ParseError
from webhooks.generic import targets
from webhooks.generic.checker import Checker, Where, did_you_mean, kind_of

RULE_KEYS: Final = ("from", "value", "map", "default", "format", "time_zone", "negate")


@dataclass(frozen=True)
class FieldRule:
    """Where one normalized field comes from."""

    target: str
    paths: tuple[str, ...] = ()
    value: Any = None
    vocabulary: Mapping[str, Any] | None = None
    default: Any = None
    time_formats: tuple[str, ...] = ()
    time_zone: str | None = None
    negate: bool = False


def field_rules(check: Checker, value: Any) -> list[FieldRule]:
    """The checked rules of a `fields:` mapping; problems go to `check`."""
    if not isinstance(value, dict):
        check.add(("fields",), f"is required: a mapping of normalized paths, got {kind_of(value)}")
        return []
    allowed = targets.writable_paths()
    rules = []
    for target, spec in value.items():
        where = ("fields", target)
        if target not in allowed and not (target.startswith("custom.") and len(target) > 7):
            check.add(where, f"unknown normalized path{did_you_mean(target, allowed)}")
            continue
        rule = _rule(check, target, spec, where)
        if rule is not None:
            rules.append(rule)
    for required in ("provider_call_id", "kind"):
        if required not in value:
            check.add(("fields",), f"{required} is required")
    return rules


def _rule(check: Checker, target: str, spec: Any, where: Where) -> FieldRule | None:
    if isinstance(spec, str | list):
        spec = {"from": spec}
    options = check.mapping(spec, where, RULE_KEYS)
    if not options:
        return None
    paths = _paths(check, options.get("from"), (*where, "from"))
    if not paths and "value" not in options:
        check.add(where, "needs `from` (a path or a list of fallback paths) or `value` (a constant)")
    if paths and "value" in options:
        check.add((*where, "value"), "give either `from` or `value`, not both")
    coerce = targets.coercion(target)
    context = targets.Context(region="US", zone=None)
    for key in ("value", "default"):
        if key in options and options[key] is not None and _coerced(coerce, options[key], context) is None:
            check.add((*where, key), _bad_value(target, options[key]))
    vocabulary = _vocabulary(check, target, options.get("map"), (*where, "map"), coerce, context)
    negate = options.get("negate", False)
    if not isinstance(negate, bool) or (negate and targets.coercion(target)("true", context) is not True):
        check.add((*where, "negate"), "negate: true applies to true/false fields only")
        negate = False
    formats = check.time_formats(options.get("format"), (*where, "format"))
    zone = check.zone(options.get("time_zone"), (*where, "time_zone"))
    if (formats or zone) and coerce is not targets.parse_time:
        check.add(where, "format and time_zone apply to time fields only")
    return FieldRule(
        target=target,
        paths=tuple(paths),
        value=options.get("value"),
        vocabulary=vocabulary,
        default=options.get("default"),
        time_formats=formats,
        time_zone=zone,
        negate=negate,
    )


def _coerced(coerce: Any, value: Any, context: targets.Context) -> Any:
    try:
        return coerce(value, context)
    except ParseError:
        return None


def _bad_value(target: str, value: Any) -> str:
    words = targets.VOCABULARIES.get(target)
    expected = f"one of {', '.join(words)}" if words else "a value this field can hold"
    return f"{value!r} is not {expected}"


def _paths(check: Checker, value: Any, where: Where) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    result = []
    for index, item in enumerate(items):
        spot = (*where, index) if isinstance(value, list) else where
        if not isinstance(item, str) or not item.strip() or item.startswith(".") or item.endswith("."):
            check.add(spot, f"expected a dotted path like Call.caller_number, got {item!r}")
            continue
        if item.startswith("$") and item.split(".")[0] not in ("$body", "$query"):
            check.add(spot, f"{item!r}: only $body. and $query. may start a path")
            continue
        result.append(item)
    return result


def _vocabulary(
    check: Checker,
    target: str,
    value: Any,
    where: Where,
    coerce: Any,
    context: targets.Context,
) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        check.add(where, f"expected a mapping of provider values to {target} values")
        return None
    result = {}
    for raw, normalized in value.items():
        # `null` is allowed: it says "this provider value carries nothing".
        if normalized is not None and _coerced(coerce, normalized, context) is None:
            check.add((*where, raw), _bad_value(target, normalized))
            continue
        result[raw.strip().lower()] = normalized
    return result
