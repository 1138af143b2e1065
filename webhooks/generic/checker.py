"""Collects a definition's problems, each naming file, line and key, so all are listed at once."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Final

from hub.core import fields
from hub.core.yamlsource import Located

Where = tuple[str | int, ...]
TIME_KEYWORDS: Final = ("iso", "epoch_s", "epoch_ms")


class Checker:
    """Collects problems as `file:line: key: message`."""

    def __init__(self, path: Path, doc: Located) -> None:
        self.path = path
        self.doc = doc
        self.problems: list[str] = []

    def add(self, where: Where, message: str) -> None:
        key = ".".join(str(part) for part in where) or "(top)"
        self.problems.append(f"{self.path}:{self.doc.line(where)}: {key}: {message}")

    def mapping(self, value: Any, where: Where, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.add(where, f"expected a mapping, got {kind_of(value)}")
            return {}
        for key in value:
            if key not in allowed:
                hint = did_you_mean(key, allowed)
                self.add((*where, key), f"unknown key{hint}; allowed: {', '.join(allowed)}")
        return value

    def text(self, value: Any, where: Where, *, required: bool = False) -> str | None:
        if value is None:
            if required:
                self.add(where, "is required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(where, f"expected text, got {kind_of(value)}")
            return None
        return value

    def choice(self, value: Any, where: Where, choices: tuple[str, ...], default: str) -> str:
        if value is None:
            return default
        if value not in choices:
            self.add(where, f"{value!r} is not one of {', '.join(choices)}")
            return default
        return str(value)

    def zone(self, value: Any, where: Where) -> str | None:
        zone = self.text(value, where)
        if zone is not None and fields.zone(zone) is None:
            self.add(where, f"unknown time zone {zone!r} (use an IANA name like America/New_York)")
            return None
        return zone

    def time_formats(self, value: Any, where: Where) -> tuple[str, ...]:
        items = value if isinstance(value, list) else [] if value is None else [value]
        result = []
        for index, item in enumerate(items):
            spot = (*where, index) if isinstance(value, list) else where
            if not isinstance(item, str) or not (item in TIME_KEYWORDS or "%" in item):
                self.add(spot, f"{item!r} is not iso, epoch_s, epoch_ms or a strptime format like %m/%d/%Y")
                continue
            result.append(item)
        return tuple(result)


def kind_of(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def did_you_mean(key: str, allowed: Any) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
