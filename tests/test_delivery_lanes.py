"""Delivery lanes: a worker process runs several delivery jobs at once, each lane an RQ worker in a
thread with a runtime of its own, so one delivery's wait for its destination overlaps another's."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from rq import Queue, Worker
from sqlalchemy import select

from hub.dispatch import INGEST_QUEUE, deliver_queue_name, dispatch_once, in_flight_batches
from hub.settings import Settings
from hub.store.models import Delivery
from hub.worker import start_lanes
from tests.hubkit import Hub, default_config, make_hub

ANSWERED = "callrail/post_call_answered_web_session.json"
MISSED = "callrail/post_call_missed.json"


class _Together(BaseHTTPRequestHandler):
    """Answers 200 only once two requests are open at the same time (500 when one waits alone)."""

    barrier = threading.Barrier(2, timeout=15)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            self.barrier.wait()
            status = 200
        except threading.BrokenBarrierError:
            status = 500
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def together_hub(tmp_path: Path, redis_url: str, database_url: str) -> Iterator[Hub]:
    _Together.barrier = threading.Barrier(2, timeout=15)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Together)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = default_config()
    config["destinations"][0]["credentials"] = {"url": "${TEST_TOGETHER_URL}"}
    config["destinations"][0]["sandbox"] = False
    os.environ["TEST_TOGETHER_URL"] = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        with make_hub(tmp_path, redis_url, database_url, config) as hub:
            yield hub
    finally:
        os.environ.pop("TEST_TOGETHER_URL", None)
        server.shutdown()
        server.server_close()


def _statuses(hub: Hub) -> dict[str, str]:
    with hub.runtime.db.read_session() as session:
        return {row.id: row.status for row in session.scalars(select(Delivery))}


def _one_job_per_delivery(hub: Hub) -> list[str]:
    """Two calls ingested and claimed; their batch re-queued as one job per delivery."""
    hub.post_fixture("callrail", ANSWERED)
    hub.post_fixture("callrail", MISSED)
    dispatch_once(hub.runtime)
    hub.run_jobs()  # ingest
    dispatch_once(hub.runtime)
    connection = redis_lib.Redis.from_url(hub.runtime.redis_url)
    queue = Queue(deliver_queue_name("webhook"), connection=connection)
    [job] = queue.get_jobs()
    destination, ids, token = job.args
    queue.empty()
    for delivery_id in ids:
        queue.enqueue("hub.jobs.deliver", destination, [delivery_id], token, result_ttl=0)
    connection.close()
    return list(ids)


def test_two_lanes_send_two_deliveries_at_the_same_time(together_hub: Hub) -> None:
    hub = together_hub
    ids = _one_job_per_delivery(hub)
    assert len(ids) == 2
    lanes = start_lanes(hub.settings, hub.runtime, 2)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and set(_statuses(hub).values()) != {"delivered"}:
            time.sleep(0.1)
    finally:
        for lane in lanes:
            lane.worker.stopping.set()
        for lane in lanes:
            lane.join(timeout=30)
    # The receiver answered 200 only to requests that were open together.
    assert _statuses(hub) == dict.fromkeys(ids, "delivered")
    assert not any(lane.is_alive() for lane in lanes), "lanes stop once asked, between jobs"


def test_lanes_take_deliveries_only_and_count_toward_batches_in_flight(hub: Hub) -> None:
    connection = redis_lib.Redis.from_url(hub.runtime.redis_url)
    destination = hub.runtime.config.destinations["webhook"]
    alone = in_flight_batches(hub.runtime, destination)
    lanes = start_lanes(hub.settings, hub.runtime, 2)
    try:
        deadline = time.monotonic() + 10
        deliver = Queue(deliver_queue_name("webhook"), connection=connection)
        while time.monotonic() < deadline and Worker.count(queue=deliver) < 2:
            time.sleep(0.05)
        assert Worker.count(queue=deliver) == 2
        assert Worker.count(queue=Queue(INGEST_QUEUE, connection=connection)) == 0
        assert (alone, in_flight_batches(hub.runtime, destination)) == (2, 3)
    finally:
        for lane in lanes:
            lane.worker.stopping.set()
        for lane in lanes:
            lane.join(timeout=30)
        connection.close()


def test_deliver_concurrency_setting() -> None:
    assert Settings.from_env({}).deliver_concurrency == 2
    assert Settings.from_env({"HUB_DELIVER_CONCURRENCY": "4"}).deliver_concurrency == 4
    for wrong in ("0", "17", "two"):
        with pytest.raises(ValueError, match="HUB_DELIVER_CONCURRENCY"):
            Settings.from_env({"HUB_DELIVER_CONCURRENCY": wrong})


def test_a_lane_job_past_its_timeout_is_interrupted_in_its_thread(hub: Hub) -> None:
    from rq.job import JobStatus

    connection = redis_lib.Redis.from_url(hub.runtime.redis_url)
    queue = Queue(deliver_queue_name("webhook"), connection=connection)
    job = queue.enqueue("tests.test_claims.swallowing_job", 10, job_timeout=1)
    [lane] = start_lanes(hub.settings, hub.runtime, 1)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and job.get_status(refresh=True) != JobStatus.FAILED:
            time.sleep(0.1)
    finally:
        lane.worker.stopping.set()
        lane.join(timeout=30)
        connection.close()
    assert job.get_status(refresh=True) == JobStatus.FAILED
    assert job.return_value() is None
    assert "JobTimedOut" in str(job.latest_result().exc_string)  # type: ignore[union-attr]
