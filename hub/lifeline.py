"""What `hub run` starts stops when `hub run` dies, even killed outright.

Asked to stop, `hub run` stops its children in order (hub/supervisor.py). SIGKILL or the kernel's
OOM killer give it no such chance: its Redis, web server and workers would run on unsupervised,
holding the port and taking jobs, and the next `hub run` would start a second set beside them.
Linux signals a process when the thread that started it ends (prctl PR_SET_PDEATHSIG). The
children ask for SIGTERM, so they stop as on Ctrl-C: a worker finishes its current job, gunicorn
lets its workers finish their requests. Elsewhere than Linux this is a no-op.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import signal
import sys
from collections.abc import Callable

log = logging.getLogger("hub.lifeline")

#: Set by `hub run` for the children it starts: its own pid. A child that finds it asks to be
#: signalled when that process ends.
SUPERVISOR_PID_ENV = "HUB_SUPERVISOR_PID"

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@functools.cache
def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def stop_with_supervisor(signum: int = signal.SIGTERM) -> bool:
    """In a child of `hub run`: receive `signum` when `hub run` ends. Returns whether it was arranged.

    The variable is removed once read: this process's own children (gunicorn's workers) have
    another parent, which stops them itself.
    """
    value = os.environ.pop(SUPERVISOR_PID_ENV, None)
    prctl = _prctl()
    if not value or prctl is None:
        return False
    if not _signal_when_parent_ends(prctl, signum, int(value)):
        log.warning(
            "cannot ask to be stopped with hub run", extra={"detail": os.strerror(ctypes.get_errno())}
        )
        return False
    return True


def stopped_with_this_process(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` for a child that runs no code of ours (redis-server): it receives `signum`
    when this process ends. None where that cannot be arranged.

    A `preexec_fn` is only safe while this process has no other thread: `hub run` starts Redis
    before anything else.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def arrange() -> None:
        # Between fork and exec: nothing that could wait for a lock another thread held (no logging).
        _signal_when_parent_ends(prctl, signum, parent)

    return arrange


def _signal_when_parent_ends(prctl: Callable[..., int], signum: int, parent: int) -> bool:
    """Ask for `signum` when `parent` ends; False when the kernel refused."""
    if prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
        return False
    if os.getppid() != parent:
        # The parent ended before the request took effect: nothing will signal us now.
        os.kill(os.getpid(), signum)
    return True
