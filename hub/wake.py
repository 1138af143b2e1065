"""Waking the dispatcher as soon as there is work for it, instead of at its next pass.

The dispatcher passes every `Dispatcher.interval_s`. Calls parsed just after a pass would
otherwise wait for the next one before their deliveries are handed out, on top of the pass their
receipt waited for. A wake is only a hint: one that is lost (Redis away, no dispatcher
listening, a dispatcher restarting) costs at most one interval, since the periodic pass still
finds everything in the database. So wakes travel on a Redis pub/sub channel, which keeps
nothing when nobody listens, and a failure to publish is never an error.
"""

from __future__ import annotations

import contextlib
import time

import redis
from redis.client import PubSub

WAKE_CHANNEL = "hub:dispatcher:wake"


def wake(client: redis.Redis) -> None:
    """Tell the dispatcher there is work; never raises (a lost wake only delays, see above)."""
    with contextlib.suppress(redis.RedisError):
        client.publish(WAKE_CHANNEL, b"1")


class WakeListener:
    """The dispatcher's side: waits for a wake or a timeout, whichever comes first."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._subscription: PubSub | None = None

    def wait(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s`; True when woken. Wakes that arrived meanwhile count as one.

        Without Redis this is a plain sleep (the pass that follows says why Redis is away).
        """
        deadline = time.monotonic() + timeout_s
        try:
            subscription = self._subscribed()
            woken = subscription.get_message(ignore_subscribe_messages=True, timeout=timeout_s) is not None
            # Several wakes since the last pass: one pass serves them all.
            while woken and subscription.get_message(ignore_subscribe_messages=True, timeout=0) is not None:
                pass
            return woken
        except redis.RedisError:
            self.close()
            time.sleep(max(deadline - time.monotonic(), 0.0))
            return False

    def _subscribed(self) -> PubSub:
        if self._subscription is None:
            subscription = self.client.pubsub()  # type: ignore[no-untyped-call]
            subscription.subscribe(WAKE_CHANNEL)
            self._subscription = subscription
        return self._subscription

    def close(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(redis.RedisError, OSError):
                self._subscription.close()
            self._subscription = None
