"""What connectors share across workers: per-key locks and a destination-wide rate limiter, in Redis.

`SharedContext` is the `ConnectorContext` the hub gives connectors at delivery time. Durable
state goes to a `StateStore` (the database in production; `MemoryStateStore` where a test or a
preview needs no database).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import redis

from connectors.base import RetryableError
from hub.locks import KeyLocks, LockedKeys

#: How long a connector's lock outlives its holder's last renewal (the job's heartbeat renews
#: every lock its process holds): a worker that dies frees its locks within this.
LOCK_TTL_S = 30.0
#: Longest wait for the rate limiter inside a worker (plus one window for a bucket of a second or
#: less, see `RateLimiter._flight_allowance_s`); a longer one reschedules the work for when the
#: quota allows (no attempt spent) instead of holding the worker.
THROTTLE_WAIT_S = 1.0


class StateStore(Protocol):
    def get(self, destination_id: str, key: str) -> dict[str, Any] | None: ...

    def get_many(self, destination_id: str, keys: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """Every key's value (None where nothing is stored), read together."""

    def put(self, destination_id: str, key: str, value: Mapping[str, Any]) -> None: ...

    def put_many(self, destination_id: str, values: Mapping[str, Mapping[str, Any]]) -> None:
        """Write several keys in one transaction."""


class MemoryStateStore:
    def __init__(self) -> None:
        self.values: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, destination_id: str, key: str) -> dict[str, Any] | None:
        value = self.values.get((destination_id, key))
        return dict(value) if value is not None else None

    def get_many(self, destination_id: str, keys: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        return {key: self.get(destination_id, key) for key in keys}

    def put(self, destination_id: str, key: str, value: Mapping[str, Any]) -> None:
        self.values[(destination_id, key)] = dict(value)

    def put_many(self, destination_id: str, values: Mapping[str, Mapping[str, Any]]) -> None:
        for key, value in values.items():
            self.put(destination_id, key, value)


#: How long a granted slot may stay unanswered before the limiter counts it from its grant
#: again: a request outlasting every connector's timeout, or a worker that died mid-request.
FLIGHT_HOLD_S = 60.0

# Sliding-window log in a sorted set, scored by the moment each slot frees. A granted request
# holds its slot until it is answered (placeholder: grant + window + FLIGHT_HOLD_S), then until
# its answer + window (`_SETTLE`). The receiver counts a request when it arrives, somewhere
# between its grant and its answer; holding the slot from grant to answer + window covers that
# moment wherever a busy machine puts it, so no window the receiver can draw holds more than
# `limit` requests. Times are Redis's own (TIME), the one clock every process shares.
# Returns 0 when there is room (and, when `admit` is 1, takes it), else the milliseconds until
# enough slots free: at most one window, since a slot held by an unanswered request frees one
# window after its answer (asking again then costs one more small wait; waiting out the
# placeholder would park the work for a minute behind a request answered in 200 ms).
_ACQUIRE = """
local key, window, limit, cost, member, admit, hold = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]),
    tonumber(ARGV[3]), ARGV[4], ARGV[5], tonumber(ARGV[6])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
local used = redis.call('ZCARD', key)
if used + cost <= limit then
  if admit == '1' then
    for i = 1, cost do redis.call('ZADD', key, now + window + hold, member .. ':' .. i) end
    redis.call('PEXPIRE', key, window + hold)
  end
  return 0
end
local oldest = redis.call('ZRANGE', key, used + cost - limit - 1, used + cost - limit - 1, 'WITHSCORES')
local wait = tonumber(oldest[2]) - now
-- A slot still in flight carries its placeholder (grant + window + hold), not when it frees: its
-- request is normally answered within a timeout, and the slot frees one window after that.
if wait > window then wait = window end
return math.max(1, wait)
"""

# The request of `member` was answered: its slots free one window from now.
_SETTLE = """
local key, window, member, cost = KEYS[1], tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
for i = 1, cost do redis.call('ZADD', key, now + window, member .. ':' .. i) end
if redis.call('PTTL', key) < window then redis.call('PEXPIRE', key, window) end
return 0
"""


@dataclass(frozen=True)
class Grant:
    """Slots a request holds until it is answered."""

    limiter: RateLimiter
    member: str
    cost: int

    def settle(self) -> None:
        """The request was answered (or never left): its slots free one window from now."""
        self.limiter.settle(self)


class RateLimiter:
    """At most `limit` requests per `window_s` for one bucket, shared by every process, counted
    as the receiver counts them (see `_ACQUIRE`)."""

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        limit: int,
        window_s: float,
        max_wait_s: float = THROTTLE_WAIT_S,
        flight_hold_s: float = FLIGHT_HOLD_S,
    ) -> None:
        self.client = client
        self.key = key
        self.limit = limit
        self.window_ms = int(window_s * 1000)
        self.max_wait_s = max_wait_s
        self.hold_ms = int(flight_hold_s * 1000)
        self._script = client.register_script(_ACQUIRE)
        self._settle = client.register_script(_SETTLE)

    def try_acquire(self, cost: int = 1) -> Grant | float:
        """A grant when admitted, else seconds to wait before trying again."""
        member = uuid.uuid4().hex
        wait_s = self._run(cost, member, admit=True)
        return Grant(self, member, cost) if wait_s == 0.0 else wait_s

    def wait_s(self, cost: int = 1) -> float:
        """Seconds until `cost` requests would be admitted (0.0: now), taking nothing."""
        return self._run(cost, uuid.uuid4().hex, admit=False)

    def settle(self, grant: Grant) -> None:
        self._settle(keys=[self.key], args=[self.window_ms, grant.member, grant.cost])

    def _run(self, cost: int, member: str, *, admit: bool) -> float:
        wait_ms = self._script(
            keys=[self.key],
            args=[self.window_ms, self.limit, cost, member, "1" if admit else "0", self.hold_ms],
        )
        return float(wait_ms) / 1000.0

    def acquire(self, cost: int = 1) -> Grant:
        if cost > self.limit:
            raise ValueError(f"cost {cost} exceeds the limit {self.limit} of {self.key}")
        deadline = time.monotonic() + self.max_wait_s + self._flight_allowance_s()
        while True:
            granted = self.try_acquire(cost)
            if isinstance(granted, Grant):
                return granted
            if time.monotonic() + granted > deadline:
                # Waiting longer would hold the worker while other destinations' work waits: the
                # deliveries are rescheduled for when the quota allows, their budget untouched.
                raise RetryableError(
                    f"rate limit {self.limit}/{self.window_ms / 1000:g}s of {self.key} is saturated",
                    reason="throttled",
                    retry_after=granted,
                )
            time.sleep(granted)

    def _flight_allowance_s(self) -> float:
        """Extra waiting allowed in the worker for a bucket whose window is no longer than
        `max_wait_s` (HubSpot's search: 5 per second).

        Its slots are mostly held by requests in flight, each freeing one window after its
        answer: the limiter first answers one window (all it can know), then the flight's
        remainder, together about a window and a 200 ms answer, which a deadline of one window
        refuses by a few milliseconds. Rescheduling the batch instead costs it at least a
        second, then its batching window and a fresh claim, for a slot that frees in about one;
        this keeps the worker at most two short windows, never the long wait of a 10-second
        bucket, which is still rescheduled.
        """
        window_s = self.window_ms / 1000.0
        return window_s if window_s <= self.max_wait_s else 0.0


class SharedContext:
    """The `ConnectorContext` of one destination, backed by Redis and a state store."""

    def __init__(
        self,
        client: redis.Redis,
        destination_id: str,
        state: StateStore,
        limits: Mapping[str, tuple[int, float]] | None = None,
        lock_ttl_s: float = LOCK_TTL_S,
        claim_alive: Callable[[str], bool] | None = None,
    ) -> None:
        """`limits` maps a bucket name to (requests, window seconds); buckets not named are free;
        `claim_alive` answers whether a delivery claim still holds its work (None: cannot tell)."""
        self._claim_alive = claim_alive
        self.client = client
        self.destination_id = destination_id
        self.state = state
        self.lock_ttl_s = lock_ttl_s
        self.limiters = {
            bucket: RateLimiter(client, f"hub:rate:{destination_id}:{bucket}", limit, window)
            for bucket, (limit, window) in (limits or {}).items()
        }
        self._key_locks = KeyLocks(client)
        self._held: dict[int, LockedKeys] = {}
        self._held_guard = threading.Lock()
        # State written during a batch, not yet stored (None: writes go straight to the store).
        self._unwritten: dict[str, dict[str, Any]] | None = None
        self._unwritten_guard = threading.RLock()
        #: Grants not answered yet, per thread: a connector sends one request at a time per thread,
        #: so a thread asking again for a bucket has had its previous request of it answered.
        self._unsettled: dict[int, list[Grant]] = {}
        self._unsettled_guard = threading.Lock()

    def wait_s(self, bucket: str = "default") -> float:
        """Seconds until the bucket admits one request (0.0 when it does now or has no limit)."""
        limiter = self.limiters.get(bucket)
        return limiter.wait_s() if limiter is not None else 0.0

    def renew_locks(self) -> int:
        """Extend every lock this process holds (the job's heartbeat calls this); returns how many
        keys were still held (one Redis call per `locks` block, whatever its number of keys)."""
        with self._held_guard:
            held = list(self._held.values())
        # Released meanwhile, or lost: nothing is extended, and the holder's own release settles it.
        return sum(keys.extend() for keys in held)

    def get_state(self, key: str) -> dict[str, Any] | None:
        with self._unwritten_guard:
            if self._unwritten is not None and key in self._unwritten:
                return dict(self._unwritten[key])
        return self.state.get(self.destination_id, key)

    def get_states(self, keys: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """`get_state` of every key, the stored ones read in one query (per few hundred keys)."""
        wanted = list(dict.fromkeys(keys))
        values: dict[str, dict[str, Any] | None] = {}
        with self._unwritten_guard:
            if self._unwritten is not None:
                values = {key: dict(self._unwritten[key]) for key in wanted if key in self._unwritten}
        stored = [key for key in wanted if key not in values]
        if stored:
            values.update(self.state.get_many(self.destination_id, stored))
        return {key: values[key] for key in wanted}

    def put_state(self, key: str, value: Mapping[str, Any]) -> None:
        with self._unwritten_guard:
            if self._unwritten is not None:
                self._unwritten[key] = dict(value)
                return
        self.state.put(self.destination_id, key, value)

    @contextlib.contextmanager
    def batched_state(self) -> Iterator[None]:
        """State written inside the block is stored in one transaction per batch, not one per key.

        Stored when the block ends (also when it raises: what the destination already holds must
        be remembered) and before any lock of this context is released, so a worker that takes
        the lock next always reads what the holder wrote under it.
        """
        with self._unwritten_guard:
            outer = self._unwritten is not None
            if not outer:
                self._unwritten = {}
        try:
            yield
        finally:
            if not outer:
                try:
                    self.flush_state()
                finally:
                    with self._unwritten_guard:
                        self._unwritten = None

    def flush_state(self) -> int:
        """Store the state written since the last flush; returns how many keys."""
        with self._unwritten_guard:
            if not self._unwritten:
                return 0
            pending = dict(self._unwritten)
            self.state.put_many(self.destination_id, pending)
            self._unwritten.clear()
            return len(pending)

    def lock(self, key: str, timeout_s: float = 30.0) -> contextlib.AbstractContextManager[None]:
        return self.locks([key], timeout_s)

    @contextlib.contextmanager
    def locks(self, keys: Iterable[str], timeout_s: float = 30.0) -> Iterator[None]:
        """Hold every one of `keys` (one Redis call per try, one to release): other workers wait
        for any of them, whether they take it alone (`lock`) or among others."""
        # A lock that expired mid-batch would let another worker create the same record, so the
        # job's heartbeat renews it while the holder lives (a batch of 200 callers can take
        # minutes); a holder that dies frees it within `lock_ttl_s`. Others wait meanwhile
        # (`lock_timeout`, which spends no retry budget). Not per thread: the heartbeat thread
        # extends it.
        names = sorted(set(keys))
        if not names:
            yield
            return
        held = self._key_locks.on(
            (f"hub:lock:{self.destination_id}:{name}" for name in names), self.lock_ttl_s
        )
        # Renewed from before it is taken: the keys it holds while it waits for one held elsewhere
        # would be lost after `lock_ttl_s` otherwise.
        with self._renewed(held):
            if not held.acquire(timeout_s):
                which = f"lock {names[0]}" if len(names) == 1 else f"a lock of {len(names)} ({names[0]}...)"
                raise RetryableError(
                    f"{which} is held by another worker", reason="lock_timeout", retry_after=5
                )
            try:
                yield
            finally:
                try:
                    # What was written under the locks is stored before another worker can take them.
                    self.flush_state()
                finally:
                    # A key that expired under a stalled holder is left alone: the other holder's
                    # work stands.
                    held.release()

    @contextlib.contextmanager
    def _renewed(self, held: LockedKeys) -> Iterator[None]:
        """The job's heartbeat (`renew_locks`) extends `held` inside the block."""
        with self._held_guard:
            self._held[id(held)] = held
        try:
            yield
        finally:
            with self._held_guard:
                self._held.pop(id(held), None)

    def claim_alive(self, claim: str) -> bool | None:
        return None if self._claim_alive is None else self._claim_alive(claim)

    def throttle(self, bucket: str = "default", cost: int = 1) -> None:
        limiter = self.limiters.get(bucket)
        if limiter is None:
            return
        thread = threading.get_ident()
        with self._unsettled_guard:
            pending = self._unsettled.get(thread, [])
            answered = [grant for grant in pending if grant.limiter is limiter]
            self._unsettled[thread] = [grant for grant in pending if grant.limiter is not limiter]
        for grant in answered:
            grant.settle()
        grant = limiter.acquire(cost)
        with self._unsettled_guard:
            self._unsettled.setdefault(thread, []).append(grant)

    def settle(self) -> int:
        """Every request granted so far was answered (the hub calls this when a connector's
        `deliver` returns): their slots free one window from now. Returns how many."""
        with self._unsettled_guard:
            grants = [grant for pending in self._unsettled.values() for grant in pending]
            self._unsettled.clear()
        for grant in grants:
            grant.settle()
        return len(grants)
