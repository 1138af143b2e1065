"""What connectors share across workers: locks and a destination-wide rate limiter, in Redis.

`SharedContext` is the `ConnectorContext` the hub gives connectors at delivery time. Durable
state goes to a `StateStore` (the database in production; `MemoryStateStore` where a test or a
preview needs no database).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import redis

from connectors.base import RetryableError

#: How long a connector's lock is held at most (longer than a delivery job may run).
LOCK_TTL_S = 960.0


class StateStore(Protocol):
    def get(self, destination_id: str, key: str) -> dict[str, Any] | None: ...

    def put(self, destination_id: str, key: str, value: Mapping[str, Any]) -> None: ...


class MemoryStateStore:
    def __init__(self) -> None:
        self.values: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, destination_id: str, key: str) -> dict[str, Any] | None:
        value = self.values.get((destination_id, key))
        return dict(value) if value is not None else None

    def put(self, destination_id: str, key: str, value: Mapping[str, Any]) -> None:
        self.values[(destination_id, key)] = dict(value)


# Sliding-window log in a sorted set: exact "at most N requests in any window" across workers.
# Returns 0 when admitted, else the milliseconds to wait before the oldest entry leaves the window.
_ACQUIRE = """
local key, now, window, limit, cost, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]),
    tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local used = redis.call('ZCARD', key)
if used + cost <= limit then
  for i = 1, cost do redis.call('ZADD', key, now, member .. ':' .. i) end
  redis.call('PEXPIRE', key, window)
  return 0
end
local oldest = redis.call('ZRANGE', key, used + cost - limit - 1, used + cost - limit - 1, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class RateLimiter:
    """At most `limit` requests per `window_s` for one bucket, shared by every process."""

    def __init__(
        self, client: redis.Redis, key: str, limit: int, window_s: float, max_wait_s: float = 30.0
    ) -> None:
        self.client = client
        self.key = key
        self.limit = limit
        self.window_ms = int(window_s * 1000)
        self.max_wait_s = max_wait_s
        self._script = client.register_script(_ACQUIRE)

    def try_acquire(self, cost: int = 1) -> float:
        """0.0 when admitted, else seconds to wait before trying again."""
        now_ms = int(time.time() * 1000)
        wait_ms = self._script(
            keys=[self.key], args=[now_ms, self.window_ms, self.limit, cost, uuid.uuid4().hex]
        )
        return float(wait_ms) / 1000.0

    def acquire(self, cost: int = 1) -> None:
        if cost > self.limit:
            raise ValueError(f"cost {cost} exceeds the limit {self.limit} of {self.key}")
        deadline = time.monotonic() + self.max_wait_s
        while True:
            wait_s = self.try_acquire(cost)
            if wait_s == 0.0:
                return
            if time.monotonic() + wait_s > deadline:
                # Waiting longer would hold the worker hostage; the delivery is retried later.
                raise RetryableError(
                    f"rate limit {self.limit}/{self.window_ms / 1000:g}s of {self.key} is saturated",
                    reason="throttled",
                    retry_after=wait_s,
                )
            time.sleep(wait_s)


class SharedContext:
    """The `ConnectorContext` of one destination, backed by Redis and a state store."""

    def __init__(
        self,
        client: redis.Redis,
        destination_id: str,
        state: StateStore,
        limits: Mapping[str, tuple[int, float]] | None = None,
    ) -> None:
        """`limits` maps a bucket name to (requests, window seconds); buckets not named are free."""
        self.client = client
        self.destination_id = destination_id
        self.state = state
        self.limiters = {
            bucket: RateLimiter(client, f"hub:rate:{destination_id}:{bucket}", limit, window)
            for bucket, (limit, window) in (limits or {}).items()
        }

    def get_state(self, key: str) -> dict[str, Any] | None:
        return self.state.get(self.destination_id, key)

    def put_state(self, key: str, value: Mapping[str, Any]) -> None:
        self.state.put(self.destination_id, key, value)

    @contextlib.contextmanager
    def lock(self, key: str, timeout_s: float = 30.0) -> Iterator[None]:
        # The lock outlives any job that could hold it (a batch of 200 callers can take minutes);
        # a lock that expired mid-batch would let another worker create the same record. If the
        # holder dies, others wait (`lock_timeout`, which spends no retry budget) until it lapses.
        lock = self.client.lock(
            f"hub:lock:{self.destination_id}:{key}",
            timeout=max(timeout_s, LOCK_TTL_S),
            blocking_timeout=timeout_s,
        )
        if not lock.acquire():
            raise RetryableError(
                f"lock {key} is held by another worker", reason="lock_timeout", retry_after=5
            )
        try:
            yield
        finally:
            with contextlib.suppress(redis.exceptions.LockError):
                # The lock expired under a very slow write: the other holder's work stands.
                lock.release()

    def throttle(self, bucket: str = "default", cost: int = 1) -> None:
        limiter = self.limiters.get(bucket)
        if limiter is not None:
            limiter.acquire(cost)
