"""`when:` conditions: a closed set of operators on event paths, plus `any:` / `all:` groups.

Conditions are evaluated against the call's merged state. A missing value (None, empty text or an
empty list) never equals, is never in a list, never compares and never contains anything, so
`not_equals` and `not_in` hold for it: `call.spam not_equals true` keeps calls not flagged as spam.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from hub.core.events import CallEvent, get_path

OPERATORS: Final[dict[str, str]] = {
    "equals": "The value equals the given one (text compares exactly, case included).",
    "not_equals": "The value is missing or differs from the given one.",
    "in": "The value is one of a list: `{path: call.status, in: [answered, voicemail]}`.",
    "not_in": "The value is missing or none of a list.",
    "gte": "The number is at least the given one: `{path: call.duration_s, gte: 60}`.",
    "lte": "The number is at most the given one.",
    "exists": "`true`: the path has a value (not empty); `false`: it has none.",
    "contains": "A list holds the item, or text holds the substring; case is ignored.",
}
GROUPS: Final[dict[str, str]] = {
    "any": "At least one of the listed conditions holds (OR).",
    "all": "Every listed condition holds (AND); the top-level `when:` list is already `all`.",
}


def is_missing(value: Any) -> bool:
    """None, blank text and empty collections all mean "the event says nothing here"."""
    return value is None or (isinstance(value, (str, list, tuple, dict)) and len(value) == 0)


def _same(left: Any, right: Any) -> bool:
    # True == 1 in Python; a boolean path must never match a number (or the reverse).
    return isinstance(left, bool) == isinstance(right, bool) and bool(left == right)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    return Decimal(str(value))


def _contains(value: Any, item: Any) -> bool:
    if isinstance(value, str):
        return isinstance(item, str) and item.casefold() in value.casefold()
    if isinstance(value, (list, tuple)):
        if isinstance(item, str):
            return any(isinstance(entry, str) and entry.casefold() == item.casefold() for entry in value)
        return any(_same(entry, item) for entry in value)
    return False


def _test(operator: str, value: Any, operand: Any) -> bool:
    if operator == "exists":
        return bool(operand) != is_missing(value)
    if operator in ("not_equals", "not_in"):
        return not _test(operator.removeprefix("not_"), value, operand)
    if is_missing(value):
        return False
    if operator == "equals":
        return _same(value, operand)
    if operator == "in":
        return any(_same(value, option) for option in operand)
    if operator == "contains":
        return _contains(value, operand)
    amount, limit = _number(value), _number(operand)
    if amount is None or limit is None:
        return False
    return amount >= limit if operator == "gte" else amount <= limit


def _show(operand: Any) -> str:
    if isinstance(operand, bool):
        return "true" if operand else "false"
    if isinstance(operand, (list, tuple)):
        return "[" + ", ".join(_show(item) for item in operand) + "]"
    return str(operand)


@dataclass(frozen=True)
class Test:
    """`{path: ..., <operator>: <operand>}`."""

    path: str
    operator: str
    operand: Any

    def holds(self, event: CallEvent) -> bool:
        return _test(self.operator, get_path(event, self.path), self.operand)

    def describe(self) -> str:
        return f"{self.path} {self.operator} {_show(self.operand)}"


@dataclass(frozen=True)
class Group:
    """`any:` (OR) or `all:` (AND) over nested conditions."""

    mode: str
    conditions: tuple[Condition, ...]

    def holds(self, event: CallEvent) -> bool:
        results = (condition.holds(event) for condition in self.conditions)
        return any(results) if self.mode == "any" else all(results)

    def describe(self) -> str:
        return f"{self.mode} of (" + ", ".join(c.describe() for c in self.conditions) + ")"


Condition = Test | Group


def first_failing(conditions: Sequence[Condition], event: CallEvent) -> Condition | None:
    """The first condition that does not hold (it names the skip reason), or None when all hold."""
    for condition in conditions:
        if not condition.holds(event):
            return condition
    return None
