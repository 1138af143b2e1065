"""`hub worker`: an RQ worker for ingest and delivery jobs, plus a dispatcher that runs when elected."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import redis
from rq import SimpleWorker

from hub import jobs
from hub.dispatch import DELIVER_QUEUE, INGEST_QUEUE, Dispatcher
from hub.local_server import LocalServer, start_sandboxes
from hub.runtime import Runtime
from hub.settings import Settings


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
    # SimpleWorker runs jobs in this process: a forking worker costs 10-15 ms per job here, and
    # the database, not RQ, decides whether an interrupted job is run again.
    # The worker blocks on Redis for new jobs: its connection must not carry the short timeouts
    # the request path uses.
    connection = redis.Redis.from_url(runtime.redis_url)
    worker = SimpleWorker([INGEST_QUEUE, DELIVER_QUEUE], connection=connection)
    try:
        # RQ's own per-job lines would double ours (one line per delivery attempt already).
        worker.work(burst=burst, with_scheduler=not burst, logging_level="WARNING")
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
