"""Exclusive locks on many Redis keys at once, in one round trip per try, release and renewal.

A batch of 100 callers takes its 100 locks in one script call instead of 100 lock and 100
release round trips. Each key holds the holder's token under SET NX PX, as redis-py's `Lock`
stores it, and is only extended or deleted where it still holds that token: a key that expired
under a stalled holder and was taken by another is left to its new holder, whichever kind of
lock (these or redis-py's) took it.

Keys are taken in sorted order and what is taken is kept while waiting for the rest, so holders
of overlapping key sets cannot deadlock: the one holding the smallest contested key finishes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import redis

#: Pause between tries while another holder has a key (redis-py's blocking lock sleeps as long).
RETRY_SLEEP_S = 0.1

# Takes KEYS in order with the token ARGV[1] for ARGV[2] ms, stopping at the first key someone
# else holds; returns how many are now held. A key already holding the token counts as taken: a
# client that retried after a lost answer must not wait for itself.
_TAKE = """
local token, ttl = ARGV[1], ARGV[2]
for i, key in ipairs(KEYS) do
  if not redis.call('SET', key, token, 'NX', 'PX', ttl) and redis.call('GET', key) ~= token then
    return i - 1
  end
end
return #KEYS
"""

# Deletes the KEYS still holding the token ARGV[1]; returns how many.
_RELEASE = """
local token, freed = ARGV[1], 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == token then
    redis.call('DEL', key)
    freed = freed + 1
  end
end
return freed
"""

# Sets ARGV[2] ms to live on the KEYS still holding the token ARGV[1]; returns how many.
_EXTEND = """
local token, ttl, extended = ARGV[1], ARGV[2], 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == token then
    redis.call('PEXPIRE', key, ttl)
    extended = extended + 1
  end
end
return extended
"""


class KeyLocks:
    """The lock scripts of one Redis client."""

    def __init__(self, client: redis.Redis) -> None:
        self.take_script = client.register_script(_TAKE)
        self.release_script = client.register_script(_RELEASE)
        self.extend_script = client.register_script(_EXTEND)

    def on(self, keys: Iterable[str], ttl_s: float) -> LockedKeys:
        """A lock on every one of `keys`, each held for `ttl_s` past its last renewal."""
        return LockedKeys(self, tuple(sorted(set(keys))), uuid.uuid4().hex, int(ttl_s * 1000))


@dataclass(frozen=True)
class LockedKeys:
    """Keys taken, renewed and freed together under one token."""

    scripts: KeyLocks
    keys: tuple[str, ...]
    token: str
    ttl_ms: int

    def acquire(self, timeout_s: float) -> bool:
        """Take every key, waiting up to `timeout_s` for keys others hold; False (holding none of
        them) when some stay held that long. Keys taken while waiting for the rest are renewed
        by `extend` meanwhile."""
        if not self.keys:
            return True
        deadline = time.monotonic() + timeout_s
        taken = 0
        try:
            while True:
                taken += int(self.scripts.take_script(keys=self.keys[taken:], args=[self.token, self.ttl_ms]))
                if taken == len(self.keys):
                    return True
                if time.monotonic() > deadline:
                    break
                time.sleep(RETRY_SLEEP_S)
        except BaseException:
            # Whatever the failed try took goes too (this frees only keys holding the token).
            self.release()
            raise
        self.release()
        return False

    def extend(self) -> int:
        """Give each key still held its full time to live again; returns how many were.

        A key lost meanwhile (expired under a stalled holder) is not counted and stays lost."""
        if not self.keys:
            return 0
        return int(self.scripts.extend_script(keys=self.keys, args=[self.token, self.ttl_ms]))

    def release(self) -> int:
        """Free the keys still held; returns how many were (a lost key is left to its holder)."""
        if not self.keys:
            return 0
        return int(self.scripts.release_script(keys=self.keys, args=[self.token]))
