"""Hands memory the C allocator keeps but no longer uses back to the system, every few seconds.

A long-lived process that parses and sends many payloads (JSON bodies, HTTP answers, rows) frees
them again, but glibc's malloc keeps freed pages in its heaps, one heap per thread that allocated
(lanes, the dispatcher, HTTP pools). Resident memory then grows with the traffic seen, not with
what is held. `malloc_trim(0)` returns every whole free page of every heap. It takes each heap's
lock in turn for about a millisecond, so it runs on a timer, not per job. Without glibc (musl,
macOS) there is nothing to call and nothing runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
from collections.abc import Callable, Mapping

from hub.settings import env_seconds

log = logging.getLogger("hub.memory_trim")

ENV = "HUB_MALLOC_TRIM_S"
DEFAULT_INTERVAL_S = 30.0


def interval_s(value: str | None) -> float:
    """Seconds between trims from HUB_MALLOC_TRIM_S (0 turns trimming off)."""
    return env_seconds(ENV, value, DEFAULT_INTERVAL_S, 0.0, 86_400.0)


def glibc_trim() -> Callable[[], None] | None:
    """glibc's malloc_trim(0), or None where the C library has none."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def trim_all() -> None:
        trim(0)

    return trim_all


def start(environ: Mapping[str, str] | None = None) -> threading.Event | None:
    """Trim every HUB_MALLOC_TRIM_S seconds in a daemon thread; set the returned event to stop it."""
    seconds = interval_s((os.environ if environ is None else environ).get(ENV))
    trim = glibc_trim()
    if seconds == 0 or trim is None:
        return None
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(seconds):
            trim()

    threading.Thread(target=loop, name="malloc-trim", daemon=True).start()
    log.debug("trimming the C heap every %s s", seconds)
    return stop
