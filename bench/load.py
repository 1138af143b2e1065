"""A small closed-loop HTTP load generator: P processes x T threads, one request in flight each.

gunicorn's sync workers close the connection after every answer, so each request opens a new
TCP connection, for the endpoint under test and the baseline alike.
"""

from __future__ import annotations

import http.client
import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(int(len(ordered) * p / 100), len(ordered) - 1)]


def _worker(
    port: int, factory: Callable[[int], Request], base: int, duration_s: float, threads: int, out: Any
) -> None:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + duration_s
    counter = [0]

    def loop(offset: int) -> None:
        index = offset
        local: list[float] = []
        local_status: dict[int, int] = {}
        while time.monotonic() < deadline:
            request = factory(base + index)
            index += threads
            started = time.perf_counter()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request(request.method, request.path, body=request.body, headers=request.headers)
                response = connection.getresponse()
                response.read()
                connection.close()
                local_status[response.status] = local_status.get(response.status, 0) + 1
                local.append((time.perf_counter() - started) * 1000)
            except OSError:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(local)
            for status, count in local_status.items():
                statuses[status] = statuses.get(status, 0) + count
            counter[0] += len(local)

    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    out.put((counter[0], errors[0], latencies, statuses))


def run_load(
    port: int,
    factory: Callable[[int], Request],
    *,
    duration_s: float = 5.0,
    processes: int = 2,
    threads: int = 32,
    first: int = 0,
) -> LoadResult:
    """Closed loop with processes x threads concurrent requests; `factory(n)` builds the n-th request."""
    queue: Any = multiprocessing.Queue()
    started = time.monotonic()
    procs = [
        multiprocessing.Process(
            target=_worker, args=(port, factory, first + i * 10**9, duration_s, threads, queue)
        )
        for i in range(processes)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    elapsed = time.monotonic() - started
    total = LoadResult(0, 0, min(elapsed, duration_s + 0.5), [], {})
    for count, errors, latencies, statuses in results:
        total.requests += count
        total.errors += errors
        total.latencies_ms.extend(latencies)
        for status, n in statuses.items():
            total.statuses[status] = total.statuses.get(status, 0) + n
    total.seconds = duration_s
    return total
