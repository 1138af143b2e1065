"""Which queue a worker's main loop serves next: receipts wait for at most one delivery job."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis as redis_lib
from rq import Queue

from hub.dispatch import INGEST_QUEUE, deliver_queue_name
from hub.worker import HubWorker, work

SERVED: list[str] = []


def served(name: str) -> None:
    SERVED.append(name)


@pytest.fixture
def queues(redis_url: str) -> Iterator[list[Queue]]:
    connection = redis_lib.Redis.from_url(redis_url)
    names = [INGEST_QUEUE, deliver_queue_name("crm"), deliver_queue_name("ga4")]
    made = [Queue(name, connection=connection) for name in names]
    for queue, jobs in zip(made, (["i1", "i2", "i3"], ["crm1", "crm2"], ["ga1", "ga2"]), strict=True):
        for job in jobs:
            queue.enqueue(served, job)
    SERVED.clear()
    yield made
    for queue in made:
        queue.empty()
    connection.close()


def _serve(queues: list[Queue], *, ingest_between: bool) -> list[str]:
    work(HubWorker(queues, connection=queues[0].connection, ingest_between=ingest_between), burst=True)
    return list(SERVED)


def test_the_main_loop_parses_between_delivery_jobs(queues: list[Queue]) -> None:
    assert _serve(queues, ingest_between=True) == ["i1", "crm1", "i2", "ga1", "i3", "crm2", "ga2"]


def test_lanes_and_plain_workers_take_every_queue_in_turn(queues: list[Queue]) -> None:
    # Without the rule a receipt may wait behind one job of every destination.
    assert _serve(queues, ingest_between=False) == ["i1", "crm1", "ga1", "i2", "crm2", "ga2", "i3"]
