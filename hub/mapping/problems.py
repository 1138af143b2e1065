"""Collecting mapping problems as `file:line: field: message`, and the wording shared by checks."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from datetime import date
from typing import Any

from hub.core.yamlsource import YamlList, YamlMap, is_trap
from hub.mapping.paths import Kind


class Problems:
    """Every problem of one file, in the order found."""

    def __init__(self, display_path: str) -> None:
        self.display_path = display_path
        self.items: list[str] = []
        self._lines: list[int] = []

    def add(self, line: int, where: str, message: str) -> None:
        self.items.append(f"{self.display_path}:{line}: {where}: {message}")
        self._lines.append(line)

    def sorted(self) -> list[str]:
        """The problems in file order (found order among problems of the same line)."""
        order = sorted(range(len(self.items)), key=lambda index: self._lines[index])
        return [self.items[index] for index in order]

    def __bool__(self) -> bool:
        return bool(self.items)


def suggest(word: str, choices: Iterable[str]) -> str:
    """` (did you mean X?)` when a close choice exists, else ""."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, YamlMap):
        return "a mapping"
    if isinstance(value, YamlList):
        return "a list" if value else "an empty list"
    return repr(value)


def trap_hint(value: Any, raw: str | None) -> str | None:
    """The YAML 1.1 explanation when a bare word or code was read as something else than text."""
    if isinstance(value, bool) and is_trap(raw):
        return f"`{raw}` is read as boolean {shown(value)} by YAML 1.1; quote it ('{raw}') if text is meant"
    if isinstance(value, date):
        return f"`{raw}` is read as a date by YAML; quote it ('{raw}')"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and raw is not None:
        if raw.startswith("0") and raw not in ("0",) and not raw.startswith("0."):
            return f"`{raw}` is read as the number {value} by YAML 1.1; quote it ('{raw}')"
        return f"`{raw}` is a number; quote it ('{raw}') if text is meant"
    return None


def expect_text(value: Any, raw: str | None) -> str | None:
    """None when `value` is usable text, else the message."""
    if isinstance(value, str):
        return None if value.strip() else "must not be empty"
    return trap_hint(value, raw) or f"expected text, got {shown(value)}"


def kind_problem(kind: Kind, value: Any, raw: str | None) -> str | None:
    """None when a YAML value fits a path of `kind` (for equals / in), else the message."""
    if value is None:
        return "null never matches; use `exists: false` for a missing value"
    if isinstance(value, (YamlMap, YamlList)):
        return f"expected a single value, got {shown(value)}"
    if kind == "any":
        return trap_hint(value, raw) if isinstance(value, date) else None
    if kind == "text":
        return expect_text(value, raw)
    if kind == "boolean":
        return None if isinstance(value, bool) else f"expected true or false, got {shown(value)}"
    if kind in ("integer", "number"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return None
        return f"expected a number, got {shown(value)}"
    if kind == "list":
        return "the path holds a list: use `contains`"
    return "the path holds a time: only `exists` applies to times"
