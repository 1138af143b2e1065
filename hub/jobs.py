"""RQ job functions, referenced by import path (`hub.jobs.ingest`).

Workers build one `Runtime` per process from the environment on first use. Each job holds the
claim its token names and keeps it alive with a heartbeat while it works (see hub.claims).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from hub.claims import Heartbeat, heartbeat_period, renew_deliveries, renew_receipts
from hub.deliver import deliver as deliver_batch
from hub.ingest import ingest as ingest_receipts
from hub.runtime import Runtime
from hub.settings import Settings
from hub.wake import wake

_runtime: Runtime | None = None
_lock = threading.Lock()
#: A runtime of one thread's own (a worker's delivery lanes, hub.worker), ahead of the process's.
_thread = threading.local()


def runtime() -> Runtime:
    global _runtime
    own: Runtime | None = getattr(_thread, "runtime", None)
    if own is not None:
        return own
    with _lock:
        if _runtime is None:
            _runtime = Runtime.from_settings(Settings.from_env())
        return _runtime


def use_runtime(value: Runtime | None) -> None:
    """Install the runtime a process's jobs use (the worker command and tests do)."""
    global _runtime
    with _lock:
        _runtime = value


def use_thread_runtime(value: Runtime | None) -> None:
    """Jobs run by the calling thread use `value` (None: the process's runtime again)."""
    _thread.runtime = value


def current_runtime() -> Runtime:
    """The runtime, with hub.yaml and mapping changes picked up since the previous job."""
    value = runtime()
    value.reloader.check()
    return value


def ingest(receipt_ids: Sequence[int], token: str | None = None) -> dict[str, int]:
    hub = current_runtime()
    lease_s = hub.settings.lease_s
    with Heartbeat(lambda: renew_receipts(hub.db, token or "", lease_s), heartbeat_period(lease_s)):
        summary = ingest_receipts(hub, receipt_ids, token)
    if summary.events:
        # Their deliveries are due now (or once their batch window has passed).
        wake(hub.redis)
    return {
        "parsed": summary.parsed,
        "failed": summary.failed,
        "ignored": summary.ignored,
        "events": summary.events,
    }


def deliver(destination_id: str, delivery_ids: Sequence[str], token: str | None = None) -> dict[str, str]:
    hub = current_runtime()
    lease_s = hub.settings.lease_s

    def renew() -> None:
        renew_deliveries(hub.db, token or "", lease_s)
        hub.renew_locks()

    with Heartbeat(renew, heartbeat_period(lease_s)):
        return deliver_batch(hub, destination_id, delivery_ids, token)
