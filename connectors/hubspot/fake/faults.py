"""Faults the fake injects on demand (`POST /__fake__/faults`), so tests can reproduce HubSpot's bad days.

Kinds:
- `status`: answer `status` with HubSpot's error body (5xx, 401, 403, 429, 400...).
- `record_errors`: a batch write answers 207; inputs whose properties match `match` fail with
  `category` / `message`, the others are written.
- `ok_with_errors`: a batch write answers 2xx, skips the matching inputs and lists them under `errors`
  (what HubSpot sometimes does: success status, nothing written).
- `no_record`: a write answers 2xx with no record at all (empty `results`), nothing written.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KINDS = ("status", "record_errors", "ok_with_errors", "no_record")


@dataclass
class Fault:
    kind: str
    #: Substring of the request path the fault applies to ("" = every API path).
    path: str = ""
    method: str | None = None
    #: How many requests it affects; -1 = until cleared.
    times: int = 1
    status: int = 500
    category: str = "INTERNAL_ERROR"
    message: str = "Internal error (injected)"
    #: property -> value an input must carry to be affected (record-level kinds); empty = every input.
    match: dict[str, str] = field(default_factory=dict)
    retry_after: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        kind = str(data.get("kind", "status"))
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
        return cls(
            kind=kind,
            path=str(data.get("path", "")),
            method=str(data["method"]).upper() if data.get("method") else None,
            times=int(data.get("times", 1)),
            status=int(data.get("status", 500)),
            category=str(data.get("category", "INTERNAL_ERROR")),
            message=str(data.get("message", "Internal error (injected)")),
            match={str(k): str(v) for k, v in dict(data.get("match") or {}).items()},
            retry_after=str(data["retry_after"]) if data.get("retry_after") is not None else None,
        )

    def applies_to(self, properties: Mapping[str, Any]) -> bool:
        return all(str(properties.get(name, "")) == value for name, value in self.match.items())


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._pending.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first pending fault for this request, counted as used."""
        with self._lock:
            for fault in self._pending:
                if fault.path in path and (fault.method is None or fault.method == method):
                    if fault.times > 0:
                        fault.times -= 1
                        if fault.times == 0:
                            self._pending.remove(fault)
                    return fault
        return None
