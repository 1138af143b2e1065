"""An append-only file that keeps a local fake's records across `hub run` restarts.

Each change appends one JSON line (`{"k": [key...], "v": record}`; `"v": null` deletes), the
fake's counters a `{"meta": ...}` line: a write costs the size of what changed, not of the whole
store, so a sandbox that has taken 10,000 calls answers as fast as an empty one. Replaying the
lines at start rebuilds the store; the file is then rewritten with only the live records
(compaction), and again whenever it has grown to several times their number.

A file from before the journal (one JSON document: a whole-store snapshot) is handed back as
`legacy` for the fake to restore; the next compaction turns it into a journal.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_HEADER = {"journal": "callhub-fake", "version": 1}
#: Rewrite when the lines appended since the last rewrite exceed this many times the live records
#: (never below `_MIN_LINES`): amortised, compaction stays O(1) per change.
_GROWTH = 3
_MIN_LINES = 10_000

Key = tuple[str, ...]


@dataclass
class Replayed:
    """What a journal held: the live records by key, the last counters, or a legacy snapshot."""

    records: dict[Key, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    legacy: Any = None


class Journal:
    """One fake's file; thread-safe (request threads append, one at a time)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._appended = 0

    def exists(self) -> bool:
        return self.path.exists() and self.path.stat().st_size > 0

    def replay(self) -> Replayed:
        """Everything the file holds; a torn last line (a crash mid-append) is ignored."""
        replayed = Replayed()
        if not self.exists():
            return replayed
        with self.path.open(encoding="utf-8") as lines:
            first = lines.readline()
            head = _parse(first)
            if head != _HEADER:
                replayed.legacy = json.loads(first + lines.read())
                return replayed
            for line in lines:
                entry = _parse(line)
                if not isinstance(entry, dict):
                    continue
                if "meta" in entry:
                    replayed.meta = dict(entry["meta"])
                elif "k" in entry:
                    key = tuple(str(part) for part in entry["k"])
                    if entry.get("v") is None:
                        replayed.records.pop(key, None)
                    else:
                        replayed.records[key] = entry["v"]
        return replayed

    def append(self, meta: dict[str, Any], changes: Iterable[tuple[Key, Any]]) -> None:
        """Record `changes` (key, record or None for deleted) and the counters after them."""
        text = "".join(_line({"k": list(key), "v": value}) for key, value in changes) + _line({"meta": meta})
        with self._lock:
            if not self.exists():
                text = _line(_HEADER) + text
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as journal:
                journal.write(text)
            self._appended += text.count("\n")

    def rewrite(self, meta: dict[str, Any], records: Iterable[tuple[Key, Any]]) -> None:
        """Replace the file with exactly these records (written aside, then renamed)."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(self.path.suffix + ".tmp")
            with partial.open("w", encoding="utf-8") as journal:
                journal.write(_line(_HEADER))
                for key, value in records:
                    journal.write(_line({"k": list(key), "v": value}))
                journal.write(_line({"meta": meta}))
            os.replace(partial, self.path)
            self._appended = 0

    def wants_compaction(self, live_records: int) -> bool:
        return self._appended > max(_MIN_LINES, _GROWTH * live_records)


def _line(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False) + "\n"


def _parse(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None
