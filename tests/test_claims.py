"""Claims: a token per job, a short lease renewed while the job works, and writes fenced by both."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis as redis_lib
from rq import Queue
from sqlalchemy import func, select

from hub.claims import Heartbeat, deliver_job_id, renew_deliveries, waiting_jobs
from hub.deliver import _prepare, _record, _start_sending, deliver
from hub.dispatch import deliver_queue_name, dispatch_once, release_expired
from hub.store.models import Attempt, Delivery, Receipt
from tests.hubkit import Hub

ANSWERED = "callrail/post_call_answered_web_session.json"
MISSED = "callrail/post_call_missed.json"


def rows(hub: Hub) -> dict[str, Delivery]:
    with hub.runtime.db.read_session() as session:
        found = session.scalars(select(Delivery)).all()
        session.expunge_all()
        return {row.id: row for row in found}


def attempt_count(hub: Hub, delivery_id: str) -> int:
    with hub.runtime.db.read_session() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Attempt).where(Attempt.delivery_id == delivery_id)
            )
            or 0
        )


def queued_claim(hub: Hub) -> tuple[str, str]:
    """Ingest one call and claim its delivery; returns (delivery id, token)."""
    hub.post_fixture("callrail", ANSWERED)
    dispatch_once(hub.runtime)
    hub.run_jobs()  # ingest
    dispatch_once(hub.runtime)  # the delivery is queued for a job
    [row] = [r for r in rows(hub).values() if r.status == "queued"]
    assert row.claim_token
    return row.id, row.claim_token


def test_each_job_names_its_claim_and_the_destination_queue(hub: Hub) -> None:
    delivery_id, token = queued_claim(hub)
    queue = Queue(deliver_queue_name("webhook"), connection=redis_lib.Redis.from_url(hub.runtime.redis_url))
    assert queue.get_job_ids() == [deliver_job_id(token)]
    job = queue.fetch_job(deliver_job_id(token))
    assert job is not None
    assert job.args == ("webhook", [delivery_id], token)


def test_a_stale_claim_can_neither_send_nor_record(hub: Hub) -> None:
    """The original job started sending, its lease lapsed, the delivery was re-driven and sent
    by a second job; the late original then finishes: nothing of it is recorded."""
    delivery_id, first = queued_claim(hub)
    hub.lose_jobs()
    destination = hub.runtime.config.destinations["webhook"]
    items, _, snapshot = _prepare(hub.runtime, destination, [delivery_id], first)
    assert _start_sending(hub.runtime, first, items, snapshot) == {delivery_id}
    late = hub.later(hub.runtime.settings.lease_s + 1)
    assert release_expired(hub.runtime, late) == 1
    dispatch_once(hub.runtime, late)
    second = rows(hub)[delivery_id].claim_token
    assert second
    assert second != first
    # The first job, late: it can no longer move the delivery to `sending` ...
    assert _start_sending(hub.runtime, first, items, snapshot) == set()
    assert deliver(hub.runtime, "webhook", [delivery_id], first) == {}
    assert hub.received() == [], "a stale claim sends nothing"
    hub.run_jobs()  # the second job sends it
    assert rows(hub)[delivery_id].status == "delivered"
    assert len(hub.received()) == 1
    # ... nor record the outcome of the send it had started.
    from connectors.base import BatchResult, RetryableError

    result = BatchResult(outcomes={delivery_id: RetryableError("late answer", reason="timeout")})
    started = hub.later(0)
    assert _record(hub.runtime, destination, first, result, started, snapshot, {delivery_id}) == {}
    row = rows(hub)[delivery_id]
    assert row.status == "delivered"
    assert row.attempts == 2, "the lost try and the delivery, nothing of the late job"
    assert attempt_count(hub, delivery_id) == 2


def test_lapsed_queued_claim_goes_back_without_spending_an_attempt(hub: Hub) -> None:
    delivery_id, _ = queued_claim(hub)
    hub.lose_jobs()
    assert release_expired(hub.runtime, hub.later(hub.runtime.settings.lease_s - 1)) == 0
    assert release_expired(hub.runtime, hub.later(hub.runtime.settings.lease_s + 1)) == 1
    row = rows(hub)[delivery_id]
    assert (row.status, row.attempts, row.claim_token, row.reason) == ("pending", 0, None, "lease_expired")
    assert attempt_count(hub, delivery_id) == 0


def test_lapsed_sending_claim_counts_the_lost_try(hub: Hub) -> None:
    delivery_id, token = queued_claim(hub)
    hub.lose_jobs()
    destination = hub.runtime.config.destinations["webhook"]
    items, _, snapshot = _prepare(hub.runtime, destination, [delivery_id], token)
    _start_sending(hub.runtime, token, items, snapshot)
    assert release_expired(hub.runtime, hub.later(hub.runtime.settings.lease_s + 1)) == 1
    row = rows(hub)[delivery_id]
    assert (row.status, row.attempts, row.claim_token, row.reason) == ("pending", 1, None, "lease_expired")
    assert attempt_count(hub, delivery_id) == 1


def test_a_claim_whose_job_waits_for_a_worker_is_kept(hub: Hub) -> None:
    """A backlog longer than the lease is not work lost: the job is still in its queue."""
    delivery_id, token = queued_claim(hub)
    later = hub.later(hub.runtime.settings.lease_s + 1)
    assert release_expired(hub.runtime, later) == 0
    row = rows(hub)[delivery_id]
    assert (row.status, row.claim_token) == ("queued", token)
    assert row.lease_until is not None
    assert row.lease_until > later
    hub.run_jobs()
    assert rows(hub)[delivery_id].status == "delivered"
    assert rows(hub)[delivery_id].attempts == 1


def test_a_job_taken_by_a_worker_that_died_before_starting_it_lets_its_claim_lapse(hub: Hub) -> None:
    """RQ moves a job off its queue as a worker takes it and still calls it queued until the
    worker starts it: when that worker dies in between, the claim must not be kept forever."""
    delivery_id, token = queued_claim(hub)
    connection = redis_lib.Redis.from_url(hub.runtime.redis_url)
    queue = Queue(deliver_queue_name("webhook"), connection=connection)
    # What a worker's dequeue does first (the job id leaves the queue), and then nothing.
    assert connection.lrem(queue.key, 0, deliver_job_id(token)) == 1
    later = hub.later(hub.runtime.settings.lease_s + 1)
    assert release_expired(hub.runtime, later) == 1
    row = rows(hub)[delivery_id]
    assert (row.status, row.claim_token, row.attempts) == ("pending", None, 0)
    connection.close()


def test_heartbeat_renewal_keeps_live_work(hub: Hub) -> None:
    delivery_id, token = queued_claim(hub)
    hub.lose_jobs()  # only the heartbeat can keep this claim now
    lease_s = hub.runtime.settings.lease_s
    # A slow but live worker renews at 0.9 leases: at 1.1 leases its claim still holds.
    assert renew_deliveries(hub.runtime.db, token, lease_s, hub.later(lease_s * 0.9)) == 1
    assert release_expired(hub.runtime, hub.later(lease_s * 1.1)) == 0
    assert rows(hub)[delivery_id].claim_token == token
    # A stale token renews nothing.
    assert renew_deliveries(hub.runtime.db, "not-the-claim", lease_s) == 0
    # The heartbeat thread renews while its block runs.
    before = rows(hub)[delivery_id].lease_until
    assert before is not None
    with Heartbeat(lambda: renew_deliveries(hub.runtime.db, token, lease_s * 10), 0.01) as beat:
        deadline = time.monotonic() + 30
        while beat.beats == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert beat.beats >= 1
    after = rows(hub)[delivery_id].lease_until
    assert after is not None
    assert after > before + timedelta(seconds=lease_s)


def test_a_lapsed_receipt_claim_is_handed_out_again_and_the_stale_job_parses_nothing(hub: Hub) -> None:
    from hub.ingest import ingest

    hub.post_fixture("callrail", ANSWERED)
    assert dispatch_once(hub.runtime).receipts == 1
    with hub.runtime.db.read_session() as session:
        first = session.scalar(select(Receipt.claim_token))
    assert first
    hub.lose_jobs()
    later = hub.later(hub.runtime.settings.lease_s + 1)
    assert dispatch_once(hub.runtime, later).receipts == 1, "re-driven after its lease"
    with hub.runtime.db.read_session() as session:
        second = session.scalar(select(Receipt.claim_token))
    assert second
    assert second != first
    stale = ingest(hub.runtime, [1], first)
    assert stale.parsed == 0
    assert stale.skipped_receipts == [1]
    hub.run_jobs()
    assert hub.api("/receipts").json["items"][0]["status"] == "parsed"


def test_supersede_skips_only_what_is_still_pending(hub: Hub) -> None:
    """A newer version folds an older one only while it is pending; one a job claimed is left to it."""
    delivery_id, _ = queued_claim(hub)
    hub.post_fixture("callrail", "callrail/call_modified_tags_value_lead_status.json")
    dispatch_once(hub.runtime)
    hub.run_jobs()  # ingest the newer version (and send the claimed one)
    older = rows(hub)[delivery_id]
    assert older.status == "delivered", "the claimed version was sent, not skipped under its job"
    hub.drain()
    assert {r.status for r in rows(hub).values()} == {"delivered"}


def swallowing_job(seconds: float) -> str:
    """A job that, like a careless connector, catches every Exception."""
    try:
        time.sleep(seconds)
    except Exception:
        return "swallowed"
    return "finished"


def test_job_timeout_cannot_be_swallowed(hub: Hub) -> None:
    from rq.job import JobStatus

    from hub.worker import HubWorker

    connection = redis_lib.Redis.from_url(hub.runtime.redis_url)
    queue = Queue(deliver_queue_name("webhook"), connection=connection)
    job = queue.enqueue(swallowing_job, 10, job_timeout=1)
    HubWorker([queue], connection=connection).work(burst=True, with_scheduler=False)
    job.refresh()
    assert job.get_status() == JobStatus.FAILED
    assert job.return_value() is None
    assert "JobTimedOut" in str(job.latest_result().exc_string)  # type: ignore[union-attr]


def test_a_timed_out_delivery_job_stops_and_records_nothing(
    tmp_path: Path, redis_url: str, database_url: str
) -> None:
    """A send that outlives the job's timeout: the connector's broad handler does not turn the
    interruption into an outcome; the delivery stays claimed until its lease lapses."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from rq.job import JobStatus

    from hub.worker import HubWorker
    from tests.hubkit import default_config, make_hub

    arrived, released = threading.Event(), threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            arrived.set()
            released.wait(60)  # answers only once the job has been interrupted
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = default_config()
    config["destinations"][0]["credentials"] = {"url": "${TEST_SLOW_URL}"}
    config["destinations"][0]["sandbox"] = False
    import os

    os.environ["TEST_SLOW_URL"] = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        with make_hub(tmp_path, redis_url, database_url, config) as hub:
            delivery_id, token = queued_claim(hub)
            connection = redis_lib.Redis.from_url(redis_url)
            queue = Queue(deliver_queue_name("webhook"), connection=connection)
            queue.empty()
            job = queue.enqueue(
                "hub.jobs.deliver",
                "webhook",
                [delivery_id],
                token,
                # Long enough for a loaded machine to reach the send; the answer never comes.
                job_timeout=5,
                job_id=deliver_job_id(token),
            )
            from hub import jobs

            jobs.use_runtime(hub.runtime)
            HubWorker([queue], connection=connection).work(burst=True, with_scheduler=False)
            assert arrived.is_set()
            job.refresh()
            assert job.get_status() == JobStatus.FAILED
            row = rows(hub)[delivery_id]
            assert (row.status, row.attempts, row.claim_token) == ("sending", 0, token)
            assert attempt_count(hub, delivery_id) == 0
    finally:
        released.set()
        os.environ.pop("TEST_SLOW_URL", None)
        server.shutdown()
        server.server_close()


def test_waiting_jobs_tells_every_job_apart_at_once(redis_url: str) -> None:
    """Waiting in its queue, taken off it by a worker that died, gone from Redis, never existed:
    only the first keeps its claim."""
    connection = redis_lib.Redis.from_url(redis_url)
    queue = Queue(deliver_queue_name("webhook"), connection=connection)
    waiting, taken, gone = (
        queue.enqueue("hub.jobs.deliver", "webhook", [], job_id=deliver_job_id(name))
        for name in ("waiting", "taken", "gone")
    )
    assert connection.lrem(queue.key, 0, taken.id) == 1
    gone.delete()
    ids = [waiting.id, taken.id, gone.id, deliver_job_id("never")]
    assert waiting_jobs(connection, ids) == {waiting.id}
    assert waiting_jobs(connection, []) == set()
    connection.close()


def test_open_heartbeats_share_one_thread_and_stop_beating_once_closed() -> None:
    beaten: Counter[str] = Counter()

    def broken() -> None:
        raise ValueError("a renewal's bug")

    with (
        Heartbeat(lambda: beaten.update(["often"]), 0.01) as often,
        Heartbeat(lambda: beaten.update(["seldom"]), 0.03) as seldom,
        Heartbeat(broken, 0.01),
    ):
        deadline = time.monotonic() + 30
        while (often.beats < 3 or seldom.beats < 2) and time.monotonic() < deadline:
            time.sleep(0.01)
        # A failing renewal stops no other heartbeat.
        assert often.beats >= 3
        assert seldom.beats >= 2
        assert [t.name for t in threading.enumerate()].count("claim-heartbeats") == 1
    closed = dict(beaten)
    time.sleep(0.1)
    assert dict(beaten) == closed, "a closed heartbeat renews nothing more"
