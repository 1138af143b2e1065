"""`hub worker`: an RQ worker for ingest and delivery jobs, plus a dispatcher that runs when elected.

A delivery spends most of its time waiting for the destination to answer (a CRM answering in
200 ms, a batch needing several requests), so one process also runs delivery lanes: RQ workers in
threads that take delivery jobs only, each with a runtime of its own (its own connectors, shared
contexts and connections), so that their jobs overlap one another's waits. Ingest stays on the
main loop: it is CPU work, which threads would not speed up.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import threading
from types import FrameType
from typing import Any

import redis
from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from rq.timeouts import BaseDeathPenalty, JobTimeoutException, TimerDeathPenalty, UnixSignalDeathPenalty
from rq.worker import DequeueStrategy

from hub import jobs, memory_trim
from hub.core.errors import Interrupted
from hub.dispatch import INGEST_QUEUE, Dispatcher, queue_names
from hub.local_server import LocalServer, start_sandboxes
from hub.runtime import Runtime
from hub.settings import Settings

log = logging.getLogger("hub.worker")


class JobTimedOut(Interrupted):
    """The job ran past its RQ timeout."""


class _InterruptingDeathPenalty(UnixSignalDeathPenalty):
    """RQ's timeout, raised as `Interrupted` (a BaseException) so that no broad handler in a
    connector or vendor library can swallow it and let the job carry on."""

    def __init__(self, timeout: Any, exception: Any = JobTimeoutException, **kwargs: Any) -> None:
        super().__init__(  # type: ignore[no-untyped-call]
            timeout, JobTimedOut if exception is JobTimeoutException else exception, **kwargs
        )


class _ThreadInterruptingDeathPenalty(TimerDeathPenalty):
    """The same for a job run outside the main thread (SIGALRM reaches the main thread only).

    The interruption is an exception set on the job's thread, which Python raises at the thread's
    next bytecode: it cannot cut a blocking call short (connectors' requests carry timeouts), and
    it can land where it is dropped (a garbage-collector callback). So it is raised again every
    second until the job ends, and one still pending when the job ends is withdrawn.
    """

    def __init__(self, timeout: Any, exception: Any = JobTimeoutException, **kwargs: Any) -> None:
        super().__init__(  # type: ignore[no-untyped-call]
            timeout, JobTimedOut if exception is JobTimeoutException else exception, **kwargs
        )
        self._guard = threading.Lock()
        self._done = False

    def handle_death_penalty(self) -> None:
        with self._guard:
            if self._done:
                return
            super().handle_death_penalty()  # type: ignore[no-untyped-call]
            self._timer = threading.Timer(1.0, self.handle_death_penalty)
            self._timer.start()

    def cancel_death_penalty(self) -> None:
        with self._guard:
            self._done = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._target_thread_id is not None:
                # Withdraw an interruption set but not raised yet: the job is over.
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._target_thread_id), None)


class HubWorker(SimpleWorker):
    """A SimpleWorker (jobs run in this process: a fork costs 10-15 ms a job here, and the
    database, not RQ, decides whether interrupted work runs again) whose timeout interrupts.

    `ingest_between`: after each delivery job the ingest queue goes first, so receipts wait for
    at most one delivery job of this loop; after an ingest job every destination goes before it.
    """

    death_penalty_class: type[BaseDeathPenalty] = _InterruptingDeathPenalty

    def __init__(self, *args: Any, ingest_between: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ingest_between = ingest_between
        self._waiting = False

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        # RQ stops an idle worker by raising StopRequested from this signal handler. Raised inside a
        # log call (its retries while Redis is gone log each time), logging swallows it and the
        # worker would wait on: the request is also kept, for the next beat to act on.
        self._stop_requested = True
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def stop_requested(self) -> bool:
        return bool(self._stop_requested)

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
        self._waiting = True
        try:
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        finally:
            self._waiting = False

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        # While Redis is lost RQ's wait retries until it is back, beating before each try: a
        # worker asked to stop leaves the wait here instead.
        if self._waiting and self.stop_requested():
            raise StopRequested
        super().heartbeat(timeout, pipeline)

    def teardown(self) -> None:
        # A worker stopping while Redis is gone (`hub run` killed outright takes both down) cannot
        # withdraw its registration; RQ's entry expires by itself. Stopping must not fail on it.
        try:
            super().teardown()  # type: ignore[no-untyped-call]
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("worker stopped without reaching redis", extra={"detail": str(exc)})

    def reorder_queues(self, reference_queue: Queue) -> None:
        super().reorder_queues(reference_queue)
        if self.ingest_between and reference_queue.name != INGEST_QUEUE:
            ingest = [queue for queue in self._ordered_queues if queue.name == INGEST_QUEUE]
            rest = [queue for queue in self._ordered_queues if queue.name != INGEST_QUEUE]
            self._ordered_queues = ingest + rest


#: How often an idle lane looks whether its process is stopping.
LANE_POLL_S = 2


class DeliveryLane(HubWorker):
    """A worker in a thread of the `hub worker` process, for delivery queues only.

    It registers in Redis like any worker (so the dispatcher counts it when it decides how many
    batches a destination may have in flight) and stops when the process does, after its job.
    """

    death_penalty_class = _ThreadInterruptingDeathPenalty
    #: RQ retries a lost Redis inside its wait, backing off to this: a lane looks whether it is
    #: stopping at least this often even then.
    max_connection_wait_time = float(LANE_POLL_S)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stopping = threading.Event()

    def _install_signal_handlers(self) -> None:
        # Signals reach the main thread, whose worker stops the lanes (hub.worker.run_worker).
        pass

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
        # RQ's own wait only ends with a job: wait in short steps and look at `stopping` between them.
        while not self.stopping.is_set():
            found = super().dequeue_job_and_maintain_ttl(LANE_POLL_S, LANE_POLL_S)
            if found is not None:
                return found
        return None

    def stop_requested(self) -> bool:
        return self.stopping.is_set() or super().stop_requested()


def make_worker(runtime: Runtime, connection: redis.Redis) -> HubWorker:
    """A worker listening to ingest and to every destination's own queue, parsing between deliveries."""
    return HubWorker(queue_names(runtime.config), connection=connection, ingest_between=True)


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
    trimming = memory_trim.start()
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
    lanes = [] if burst else start_lanes(settings, runtime, settings.deliver_concurrency - 1)
    stopped = False
    try:
        work(make_worker(runtime, connection), burst=burst)
        stopped = True
    finally:
        for lane in lanes:
            lane.worker.stopping.set()
        if stopped:
            # A warm stop: the lanes finish the job they hold, as the main loop did.
            for lane in lanes:
                lane.join()
        dispatcher.stop()
        runtime.close()
        for fake in fakes:
            fake.stop()
        if trimming is not None:
            trimming.set()


class Lane(threading.Thread):
    """The thread of one `DeliveryLane`, with a runtime of its own."""

    def __init__(self, settings: Settings, runtime: Runtime, number: int) -> None:
        super().__init__(name=f"delivery-lane-{number}", daemon=True)
        self.runtime = Runtime.from_settings(settings, sandbox_urls=runtime.sandbox_urls)
        queues = [name for name in queue_names(runtime.config) if name != INGEST_QUEUE]
        self.worker = DeliveryLane(queues, connection=redis.Redis.from_url(runtime.redis_url))

    def run(self) -> None:
        jobs.use_thread_runtime(self.runtime)
        try:
            work(self.worker, burst=False)
        finally:
            jobs.use_thread_runtime(None)
            self.runtime.close()


def start_lanes(settings: Settings, runtime: Runtime, count: int) -> list[Lane]:
    lanes = [Lane(settings, runtime, n + 1) for n in range(max(count, 0))]
    for lane in lanes:
        lane.start()
    return lanes


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
