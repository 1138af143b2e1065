"""What the GA4 fake remembers: collect requests received, events GA4 would keep, faults to play."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from connectors.fake_store import FakeRecords
from connectors.ga4.fake import validation as rules

ENDPOINTS: Final = ("collect", "debug", "report")
#: The kind of record a received hit is kept as.
_HITS: Final = "hits"
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Hit:
    """One body POSTed to /mp/collect."""

    measurement_id: str
    received_at: datetime
    body: Mapping[str, Any]


@dataclass(frozen=True)
class RecordedEvent:
    """One event GA4 would have kept, with the request-level fields it arrived with."""

    measurement_id: str
    name: str
    params: Mapping[str, Any]
    client_id: str
    user_id: str | None
    moment: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "measurement_id": self.measurement_id,
            "name": self.name,
            "params": dict(self.params),
            "client_id": self.client_id,
            "user_id": self.user_id,
            "timestamp_micros": int(self.moment.timestamp() * 1_000_000),
        }


@dataclass
class Fault:
    status: int
    remaining: int
    retry_after: float | None = None


class SandboxState:
    """Thread-safe: the fake serves requests from several threads.

    Hits live in a database (connectors/fake_store.py): a long `hub run` keeps every one (they are
    what the Data API reports from), on disk rather than in memory. `state_path` is its file across
    restarts, so `hub ga4 report` still finds the events the hub remembers sending; without one, a
    temporary database."""

    def __init__(self, clock: Clock | None = None, state_path: Path | None = None) -> None:
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._faults: dict[str, list[Fault]] = {endpoint: [] for endpoint in ENDPOINTS}
        self.db = FakeRecords(state_path)
        if self.db.earlier:
            # An earlier version's file: one JSON line per hit.
            with self.db.transaction():
                for line in self.db.earlier.splitlines():
                    if line.strip():
                        self.db.append(_HITS, json.loads(line))
            self.db.imported_earlier()

    def record(self, measurement_id: str, body: Mapping[str, Any]) -> None:
        received = self.clock().isoformat()
        self.db.append(_HITS, {"measurement_id": measurement_id, "received_at": received, "body": body})

    def hits(self) -> list[Hit]:
        return [
            Hit(kept["measurement_id"], datetime.fromisoformat(kept["received_at"]), kept["body"])
            for _, kept in self.db.scan(_HITS)
        ]

    def events(self) -> list[RecordedEvent]:
        """Events GA4 keeps: like GA, it silently drops events it cannot accept."""
        kept: list[RecordedEvent] = []
        for hit in self.hits():
            if not isinstance(hit.body, Mapping) or not isinstance(hit.body.get("client_id"), str):
                continue
            events = hit.body.get("events")
            if not isinstance(events, list):
                continue
            for index, event in enumerate(events[: rules.MAX_EVENTS_PER_REQUEST]):
                if _dropped(event, index, hit.received_at):
                    continue
                micros = event.get("timestamp_micros") or hit.body.get("timestamp_micros")
                moment = datetime.fromtimestamp(micros / 1_000_000, UTC) if micros else hit.received_at
                kept.append(
                    RecordedEvent(
                        hit.measurement_id,
                        event["name"],
                        dict(event.get("params") or {}),
                        hit.body["client_id"],
                        hit.body.get("user_id"),
                        moment,
                    )
                )
        return kept

    def add_fault(self, endpoint: str, status: int, times: int = 1, retry_after: float | None = None) -> None:
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; known: {', '.join(ENDPOINTS)}")
        with self._lock:
            self._faults[endpoint].append(Fault(status, times, retry_after))

    def take_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            queue = self._faults[endpoint]
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.pop(0)
            return fault

    def reset(self) -> None:
        with self._lock:
            self.db.clear()
            for queue in self._faults.values():
                queue.clear()


def _dropped(event: Any, index: int, received_at: datetime) -> bool:
    # Event-level problems make GA drop the event; param-level ones only lose the param.
    problems = rules.event_problems(event, index, received_at)
    return any(not problem.field_path.startswith("events.params") for problem in problems)
