"""gunicorn settings the hub ships (`hub web` and `hub run` pass `-c python:hub.gunicorn_conf`)."""

from __future__ import annotations

from typing import Any

from hub import lifeline, metrics_dir
from hub.settings import Settings


def on_starting(server: Any) -> None:
    """Before any worker: one metrics directory for all of them, without a previous run's files;
    under `hub run`, stop (gracefully, as on SIGTERM) when it ends."""
    lifeline.stop_with_supervisor()
    metrics_dir.configure(Settings.from_env().data_dir, clean=True)


def child_exit(server: Any, worker: Any) -> None:
    """A worker that exited no longer contributes live gauges to /metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
