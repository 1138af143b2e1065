"""Threads that can wait let a write transaction of their own process finish first.

On SQLite one lock serializes every process's writes, so the time a transaction holds it is time
every other writer waits. The holder shares its process's interpreter with that process's other
threads (the delivery lane, a connector's request threads): each stretch of Python they run while
the holder holds the lock is a stretch the holder cannot run, which stretches the hold and the
queue behind it. Measured in a two-worker drain (docs/performance.md): ingest holds lasted 3.0
times their own CPU time while the machine was a quarter idle; with these yields, 1.7 times.

`hub.store.db` marks when a thread of this process holds the write lock; work that can start a few
milliseconds later (an outbound request, rendering a batch) calls `yield_to_writer()` first. Only
this process's holders count: another process's holder does not share our interpreter. On
PostgreSQL nothing is ever marked and the call returns at once.
"""

from __future__ import annotations

import os
import threading
from typing import Final

#: The longest a thread waits: a hold that lasts longer (a slow disk, a large chunk) is not worth
#: stalling deliveries for, and a holder that waits on the yielding thread never deadlocks.
MAX_WAIT_S: Final = 0.05

_count_lock = threading.Lock()
_holders = 0
_no_holder = threading.Event()
_no_holder.set()


def writer_entered() -> None:
    global _holders
    with _count_lock:
        _holders += 1
        _no_holder.clear()


def writer_left() -> None:
    global _holders
    with _count_lock:
        _holders -= 1
        if _holders == 0:
            _no_holder.set()


def _forget_holders() -> None:
    # A forked child has none of its parent's threads, so none of its holders either.
    global _count_lock, _holders, _no_holder
    _count_lock = threading.Lock()
    _holders = 0
    _no_holder = threading.Event()
    _no_holder.set()


os.register_at_fork(after_in_child=_forget_holders)


def writer_active() -> bool:
    return not _no_holder.is_set()


def yield_to_writer(max_wait_s: float = MAX_WAIT_S) -> None:
    """Wait while a thread of this process holds the database's write lock, at most `max_wait_s`."""
    if not _no_holder.is_set():
        _no_holder.wait(max_wait_s)
