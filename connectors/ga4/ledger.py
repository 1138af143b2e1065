"""Which GA4 events each call has already produced: the Measurement Protocol cannot deduplicate.

State per call (`call:<source>:<provider_call_id>` in the destination's durable state):
`{"events": {"phone_call": {"status": "sent", "at": "2024-03-12T18:31:00Z",
"event_time": "2024-03-12T18:22:07Z"}}}` (`at`: when sent; `event_time`: the event's own
timestamp, which GA4 reports it under and `hub ga4 report` counts it by). A `pending` mark also
names the hub claim that wrote it (`claim`) and how far its send got (`phase`).

The write order makes delivery at most once, as Google asks of MP senders:
1. under the call's lock, events about to be sent are written `pending`, phase `prepared`, with
   the sender's claim: nothing has left the hub yet;
2. right before the request, under the lock again, the sender turns its own `prepared` marks to
   phase `sending` (a mark another claim took over meanwhile is not sent);
3. the request is POSTed;
4. a 2xx turns them `sent`; a request that provably never reached Google (connection refused,
   connect timeout, non-2xx answer, rate limiter) clears them so a retry sends them.
A `pending` mark whose claim is still alive (its lease renewed, see `ConnectorContext.claim_alive`)
is a send under way: others wait (`in_flight`). Once its claim is dead (the worker was killed and
its lease lapsed, or its delivery was handed to a new claim) it is decided at once: `prepared`
was never sent and is sent now; `sending` may have reached GA4 (the process died mid-request, or
the answer was lost): nobody knows whether GA4 counted it, and sending again could count a
conversion twice. Such events are reported as `in_doubt` rather than resent, unless the
destination sets `resend_in_doubt: true` (at least once instead of at most once). A mark whose
claim nobody can judge (none recorded, or a context that cannot tell) is in flight for
`IN_FLIGHT_WINDOW` (see sending.py), then in doubt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from connectors.base import ConnectorContext
from hub.core.events import CallEvent

#: Every call's state key starts so (`call:<source>:<provider_call_id>`).
CALL_KEY_PREFIX: Final = "call:"
SENT: Final = "sent"
PENDING: Final = "pending"
Status = Literal["sent", "pending"]
#: Phases of a `pending` mark: written before the request (`prepared`: provably unsent), and
#: right before its bytes go out (`sending`: GA4 may have it from here on).
PREPARED: Final = "prepared"
SENDING: Final = "sending"


@dataclass(frozen=True)
class Confirmed:
    """Events of one call GA4 accepted (a 2xx), with each event's own time."""

    names: list[str]
    event_times: Mapping[str, datetime] = field(default_factory=dict)


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
            self._cache[key] = _marks_in(self.context.get_state(key))
        return self._cache[key]

    def refresh(self, keys: Iterable[str]) -> None:
        """Read the marks of several calls afresh, in one read (the caller holds their locks)."""
        for key, state in self.context.get_states(keys).items():
            self._cache[key] = _marks_in(state)

    def status(self, key: str, name: str) -> Status | None:
        mark = self.marks(key).get(name)
        return None if mark is None else mark.get("status")

    def claim(self, key: str, names: Iterable[str], now: datetime, claim: str | None = None) -> None:
        """Mark events pending (`prepared`) under `claim`; the caller holds the call's lock and
        read the marks under it."""
        marks = self.marks(key)
        for name in names:
            marks[name] = {"status": PENDING, "at": _timestamp(now), "phase": PREPARED}
            if claim is not None:
                marks[name]["claim"] = claim
        self._write(key)

    def start_sending(self, key: str, names: Iterable[str], claim: str | None) -> list[str]:
        """Turn this claim's `prepared` marks of one call to `sending` (see `advance`)."""
        return self.advance({key: (list(names), claim)}).get(key, [])

    def advance(
        self,
        starting: Mapping[str, tuple[Sequence[str], str | None]],
        *,
        confirmed: Mapping[str, Confirmed] | None = None,
        now: datetime | None = None,
    ) -> dict[str, list[str]]:
        """Before a request: per call key, turn the claim's `prepared` marks of `names` to
        `sending`; returns, per key, the names this sender may send.

        Under the calls' locks, so a claim that took the events over (the sender's lease lapsed
        before it got here) and this sender never both send them. `confirmed` (the previous
        request's events GA4 accepted, at `now`) are marked sent under the same locks and in the
        same write: a batch of N requests takes N + 1 lock takes, reads and writes, not 2N.
        Raises RetryableError when a lock is busy; nothing is written then (the marks stay
        `prepared`, known unsent, and the confirmed ones stay `sending`).
        """
        confirmed = confirmed or {}
        keys = [*confirmed, *starting]
        mine: dict[str, list[str]] = {}
        with self.context.locks(keys):
            self.refresh(keys)
            for key, events in confirmed.items():
                self._mark_sent(key, events, now or datetime.now(UTC))
            for key, (names, claim) in starting.items():
                marks = self.marks(key)
                mine[key] = [
                    name
                    for name in names
                    if marks.get(name, {}).get("status") == PENDING
                    and marks[name].get("claim") == claim
                    and marks[name].get("phase") == PREPARED
                ]
                for name in mine[key]:
                    marks[name]["phase"] = SENDING
            for key in dict.fromkeys([*confirmed, *(key for key, names in mine.items() if names)]):
                self._write(key)
        return mine

    def settle(
        self,
        key: str,
        now: datetime,
        *,
        sent: Iterable[str] = (),
        released: Iterable[str] = (),
        event_times: Mapping[str, datetime] | None = None,
        claim: str | None = None,
    ) -> None:
        """After a POST: `sent` become sent, `released` pending marks go (the send provably failed).

        Only marks `claim` wrote are released: one another claim took over is its own.

        Re-reads the state under the call's lock: another worker may have claimed other events
        of the call since this batch read it. Raises RetryableError when the lock is busy; the
        marks then stay pending (in doubt), which never sends twice.
        """
        with self.context.lock(key):
            self._cache.pop(key, None)
            self._mark_sent(key, Confirmed(list(sent), event_times or {}), now)
            marks = self.marks(key)
            for name in released:
                mark = marks.get(name, {})
                if mark.get("status") == PENDING and mark.get("claim") == claim:
                    del marks[name]
            self._write(key)

    def _mark_sent(self, key: str, confirmed: Confirmed, now: datetime) -> None:
        marks = self.marks(key)
        for name in confirmed.names:
            marks[name] = {"status": SENT, "at": _timestamp(now)}
            if name in confirmed.event_times:
                marks[name]["event_time"] = _timestamp(confirmed.event_times[name])

    def _write(self, key: str) -> None:
        self.context.put_state(key, {"events": self._cache[key]})


def _marks_in(state: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {name: dict(mark) for name, mark in dict((state or {}).get("events", {})).items()}


def _timestamp(now: datetime) -> str:
    return now.astimezone(UTC).isoformat().replace("+00:00", "Z")
