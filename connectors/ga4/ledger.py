"""Which GA4 events each call has already produced: the Measurement Protocol cannot deduplicate.

State per call (`call:<source>:<provider_call_id>` in the destination's durable state):
`{"events": {"phone_call": {"status": "sent", "at": "2024-03-12T18:31:00Z",
"event_time": "2024-03-12T18:22:07Z"}}}` (`at`: when sent; `event_time`: the event's own
timestamp, which GA4 reports it under and `hub ga4 report` counts it by).

The write order makes delivery at most once, as Google asks of MP senders:
1. under the call's lock, events about to be sent are written `pending`;
2. the request is POSTed;
3. a 2xx turns them `sent`; a request that provably never reached Google (connection refused,
   connect timeout, non-2xx answer, rate limiter) clears them so a retry sends them.
If the process dies between 1 and 3, or the answer is lost (read timeout, reset after sending),
the events stay `pending`: nobody knows whether GA4 counted them, and sending again could count
a conversion twice. They are reported as `in_doubt` rather than resent, unless the destination
sets `resend_in_doubt: true` (at least once instead of at most once).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal

from connectors.base import ConnectorContext
from hub.core.events import CallEvent

#: Every call's state key starts so (`call:<source>:<provider_call_id>`).
CALL_KEY_PREFIX: Final = "call:"
SENT: Final = "sent"
PENDING: Final = "pending"
Status = Literal["sent", "pending"]


def call_key(call: CallEvent) -> str:
    """State and lock key of one call at this destination."""
    return f"{CALL_KEY_PREFIX}{call.source}:{call.provider_call_id}"


class Ledger:
    """Reads and writes the per-call event marks through the connector context."""

    def __init__(self, context: ConnectorContext) -> None:
        self.context = context
        self._cache: dict[str, dict[str, dict[str, Any]]] = {}

    def marks(self, key: str) -> dict[str, dict[str, Any]]:
        """Event name -> {"status", "at"} for one call (cached for the batch)."""
        if key not in self._cache:
            state = self.context.get_state(key) or {}
            self._cache[key] = {name: dict(mark) for name, mark in dict(state.get("events", {})).items()}
        return self._cache[key]

    def status(self, key: str, name: str) -> Status | None:
        mark = self.marks(key).get(name)
        return None if mark is None else mark.get("status")

    def claim(self, key: str, names: Iterable[str], now: datetime) -> None:
        """Mark events pending; the caller holds the call's lock and read the marks under it."""
        marks = self.marks(key)
        for name in names:
            marks[name] = {"status": PENDING, "at": _timestamp(now)}
        self._write(key)

    def settle(
        self,
        key: str,
        now: datetime,
        *,
        sent: Iterable[str] = (),
        released: Iterable[str] = (),
        event_times: Mapping[str, datetime] | None = None,
    ) -> None:
        """After a POST: `sent` become sent, `released` pending marks go (the send provably failed).

        Re-reads the state under the call's lock: another worker may have claimed other events
        of the call since this batch read it. Raises RetryableError when the lock is busy; the
        marks then stay pending (in doubt), which never sends twice.
        """
        with self.context.lock(key):
            self._cache.pop(key, None)
            marks = self.marks(key)
            for name in sent:
                marks[name] = {"status": SENT, "at": _timestamp(now)}
                if event_times and name in event_times:
                    marks[name]["event_time"] = _timestamp(event_times[name])
            for name in released:
                if marks.get(name, {}).get("status") == PENDING:
                    del marks[name]
            self._write(key)

    def _write(self, key: str) -> None:
        self.context.put_state(key, {"events": self._cache[key]})


def _timestamp(now: datetime) -> str:
    return now.astimezone(UTC).isoformat().replace("+00:00", "Z")
