"""`hub worker`: an RQ worker for ingest and delivery jobs, plus a dispatcher that runs when elected."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

import redis
from rq import SimpleWorker
from rq.timeouts import JobTimeoutException, UnixSignalDeathPenalty
from rq.worker import DequeueStrategy

from hub import jobs
from hub.core.errors import Interrupted
from hub.dispatch import Dispatcher, queue_names
from hub.local_server import LocalServer, start_sandboxes
from hub.runtime import Runtime
from hub.settings import Settings


class JobTimedOut(Interrupted):
    """The job ran past its RQ timeout."""


class _InterruptingDeathPenalty(UnixSignalDeathPenalty):
    """RQ's timeout, raised as `Interrupted` (a BaseException) so that no broad handler in a
    connector or vendor library can swallow it and let the job carry on."""

    def __init__(self, timeout: Any, exception: Any = JobTimeoutException, **kwargs: Any) -> None:
        super().__init__(  # type: ignore[no-untyped-call]
            timeout, JobTimedOut if exception is JobTimeoutException else exception, **kwargs
        )


class HubWorker(SimpleWorker):
    """A SimpleWorker (jobs run in this process: a fork costs 10-15 ms a job here, and the
    database, not RQ, decides whether interrupted work runs again) whose timeout interrupts."""

    death_penalty_class = _InterruptingDeathPenalty


def make_worker(runtime: Runtime, connection: redis.Redis) -> HubWorker:
    """A worker listening to ingest and to every destination's own queue."""
    return HubWorker(queue_names(runtime.config), connection=connection)


def work(worker: HubWorker, *, burst: bool) -> None:
    # Round robin: after each job the next queue in turn goes first, so no destination's jobs
    # wait behind another's, nor deliveries behind a parsing backlog. No RQ scheduler: the hub
    # schedules retries in the database, and the scheduler is a forked process per worker.
    # RQ's own per-job lines would double ours (one line per delivery attempt already).
    worker.work(
        burst=burst,
        with_scheduler=False,
        logging_level="WARNING",
        dequeue_strategy=DequeueStrategy.ROUND_ROBIN,
    )


def run_worker(
    settings: Settings,
    *,
    burst: bool = False,
    dispatch: bool = True,
    metrics_port: int | None = None,
    metrics_host: str = "0.0.0.0",
) -> None:
    runtime = Runtime.from_settings(settings)
    fakes = _start_missing_fakes(runtime)
    if metrics_port is not None:
        from hub.metrics_export import serve

        serve(runtime, metrics_port, metrics_host)
    jobs.use_runtime(runtime)
    _reload_on_sighup(runtime)
    dispatcher = Dispatcher(runtime)
    thread = threading.Thread(target=dispatcher.run, name="dispatcher", daemon=True)
    if dispatch and not burst:
        thread.start()
    # The worker blocks on Redis for new jobs: its connection must not carry the short timeouts
    # the request path uses.
    connection = redis.Redis.from_url(runtime.redis_url)
    try:
        work(make_worker(runtime, connection), burst=burst)
    finally:
        dispatcher.stop()
        runtime.close()
        for fake in fakes:
            fake.stop()


def _reload_on_sighup(runtime: Runtime) -> None:
    """SIGHUP reloads hub.yaml and mappings now (validated first), not only at the next job."""

    def handle(_signum: int, _frame: FrameType | None) -> None:
        runtime.reloader.request()
        threading.Thread(target=runtime.reloader.check, name="reload", daemon=True).start()

    signal.signal(signal.SIGHUP, handle)


def _start_missing_fakes(runtime: Runtime) -> list[LocalServer]:
    """Fakes for `sandbox: true` destinations when no `hub run` on this data directory serves them
    (a worker outside `hub run`, e.g. a staging deployment)."""
    missing = [
        d for d in runtime.config.destinations.values() if d.sandbox and d.id not in runtime.sandbox_urls
    ]
    fakes, urls = start_sandboxes(missing)
    runtime.sandbox_urls = {**runtime.sandbox_urls, **urls}
    return fakes
