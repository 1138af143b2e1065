"""Nothing is lost when Redis or the database are unavailable."""

from __future__ import annotations

from pathlib import Path

import redis as redis_lib

from hub.redis_server import free_port
from tests.hubkit import Hub, make_hub

ANSWERED = "callrail/post_call_answered_web_session.json"


def test_redis_down_during_receipt_loses_nothing(tmp_path: Path, redis_url: str, database_url: str) -> None:
    with make_hub(tmp_path, f"redis://127.0.0.1:{free_port()}/0", database_url) as hub:
        response = hub.post_fixture("callrail", ANSWERED)
        assert response.status_code == 202, "receipt never needs Redis"
        ready = hub.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json["checks"]["redis"].startswith("error")
        # Redis is back: the stored delivery is dispatched and sent, once.
        hub.runtime.redis_url = redis_url
        hub.runtime.__dict__.pop("redis", None)
        hub.runtime._connectors.clear()
        hub.runtime._contexts.clear()
        hub.drain()
        assert len(hub.received()) == 1
        assert hub.api("/events").json["items"][0]["destinations"] == {"webhook": "delivered"}


def test_dispatcher_survives_redis_outage_and_releases_claims(hub: Hub, redis_server) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from hub.dispatch import dispatch_once
    from hub.runtime import redis_client

    hub.post_fixture("callrail", ANSWERED)
    live = hub.runtime.redis_url
    hub.runtime.redis_url = f"redis://127.0.0.1:{free_port()}/0"
    hub.runtime.__dict__["redis"] = redis_client(hub.runtime.redis_url, timeout_s=0.2)
    with pytest.raises(redis_lib.RedisError):
        dispatch_once(hub.runtime)
    receipts = hub.api("/receipts").json["items"]
    assert receipts[0]["status"] == "received", "a claim that could not be enqueued is released"
    hub.runtime.redis_url = live
    hub.runtime.__dict__["redis"] = redis_client(live)
    hub.drain()
    assert len(hub.received()) == 1


def test_database_unavailable_answers_503_so_the_provider_retries(tmp_path: Path, redis_url: str) -> None:
    with make_hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}") as hub:
        from hub.store.db import Database

        # A database without the hub's tables fails every write, as a broken one would.
        healthy, hub.runtime.db = hub.runtime.db, Database(f"sqlite:///{tmp_path / 'empty.db'}")
        hub.runtime.__dict__.pop("receipt_writer", None)
        response = hub.post_fixture("callrail", ANSWERED)
        hub.runtime.db.dispose()
        hub.runtime.db = healthy
        assert response.status_code == 503
        assert response.json["error"] == "storage_unavailable"


def run_jobs(hub: Hub) -> None:
    hub.run_jobs()


def test_work_of_a_vanished_worker_is_redriven_once(hub: Hub) -> None:
    """A job lost with Redis, and a worker killed after starting a send: both are sent, once each;
    only the one whose send started counts a lost attempt."""
    from sqlalchemy import select

    from hub.deliver import _prepare, _start_sending
    from hub.dispatch import dispatch_once
    from hub.store.models import Delivery

    hub.post_fixture("callrail", ANSWERED)
    hub.post_fixture("callrail", "callrail/post_call_missed.json")
    hub.drain()  # parsed and delivered
    hub.post_fixture("callrail", "callrail/call_modified_tags_value_lead_status.json")
    hub.post_fixture("callrail", "callrail/post_call_voicemail.json")
    dispatch_once(hub.runtime)  # receipts -> ingest job
    run_jobs(hub)  # ingest: the new deliveries are pending
    dispatch_once(hub.runtime)  # deliveries -> a deliver job, not run yet
    queued = [d for d in hub.api("/deliveries?limit=50").json["items"] if d["status"] == "queued"]
    assert len(queued) == 2
    hub.lose_jobs()  # the jobs are lost
    destination = hub.runtime.config.destinations["webhook"]
    with hub.runtime.db.read_session() as session:
        token = session.scalar(select(Delivery.claim_token).where(Delivery.id == queued[0]["id"]))
    assert token
    items, _, rows = _prepare(hub.runtime, destination, [queued[0]["id"]], token)
    assert _start_sending(hub.runtime, token, items, rows) == {queued[0]["id"]}  # ... then it dies
    assert hub.api(f"/deliveries/{queued[0]['id']}").json["status"] == "sending"
    before = len(hub.received())
    hub.drain()
    assert len(hub.received()) == before, "nothing is re-driven while its lease holds"
    hub.drain(now=hub.later(hub.runtime.settings.lease_s + 5))
    deliveries = {d["id"]: d for d in hub.api("/deliveries?limit=50").json["items"]}
    assert deliveries[queued[0]["id"]]["status"] == "delivered"
    assert deliveries[queued[1]["id"]]["status"] == "delivered"
    assert len(hub.received()) == before + 2
    assert deliveries[queued[0]["id"]]["attempts"] == 2, "the send that started and was lost counts"
    assert deliveries[queued[1]["id"]]["attempts"] == 1, "a delivery never sent spends no attempt"


def test_a_receipt_the_store_refuses_fails_alone_and_visibly(hub: Hub) -> None:
    """On PostgreSQL a 300-character call id does not fit; its chunk neighbours go through."""
    import re

    long_id = "CAL" + "x" * 297
    hub.post_fixture("callrail", ANSWERED)
    hub.post_fixture(
        "callrail",
        "callrail/post_call_missed.json",
        edit=lambda body: re.sub(rb'"resource_id":"[^"]+"', f'"resource_id":"{long_id}"'.encode(), body),
    )
    hub.post_fixture("callrail", "callrail/post_call_voicemail.json")
    hub.drain()
    receipts = hub.api("/receipts").json["items"]
    assert {r["status"] for r in receipts} <= {"parsed", "failed"}, "nothing is left waiting"
    failed = [r for r in receipts if r["status"] == "failed"]
    if hub.runtime.db.url.startswith("postgresql"):
        assert len(failed) == 1
        assert failed[0]["error_reason"] == "store_error"
        assert "too long" in failed[0]["error"]
    delivered = [d for d in hub.api("/deliveries").json["items"] if d["status"] == "delivered"]
    assert len(delivered) == 3 - len(failed)


def test_first_versions_of_one_call_ingested_in_parallel_make_one_call(hub: Hub) -> None:
    import threading

    from hub.dispatch import dispatch_receipts
    from hub.ingest import IngestSummary, ingest

    hub.post_fixture("callrail", ANSWERED)
    hub.post_fixture("callrail", "callrail/call_modified_tags_value_lead_status.json")
    ids = [r["id"] for r in hub.api("/receipts").json["items"]]
    summaries: list[IngestSummary] = []
    threads = [threading.Thread(target=lambda i=i: summaries.append(ingest(hub.runtime, [i]))) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(s.parsed for s in summaries) == 2, [s.failed for s in summaries]
    calls = hub.api("/events").json["items"]
    assert len(calls) == 1
    assert calls[0]["versions"] == 2
    assert dispatch_receipts(hub.runtime, hub.later(0)) == 0


def test_dispatcher_outlives_a_database_outage(hub: Hub, tmp_path: Path) -> None:
    import threading
    import time

    from hub.dispatch import Dispatcher
    from hub.store.db import Database

    hub.post_fixture("callrail", ANSWERED)
    healthy = hub.runtime.db
    hub.runtime.db = Database(f"sqlite:///{tmp_path / 'no-tables.db'}")  # every pass fails
    dispatcher = Dispatcher(hub.runtime, interval_s=0.05)
    thread = threading.Thread(target=dispatcher.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while dispatcher.failures == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dispatcher.failures >= 1
    assert thread.is_alive(), "a failed pass must not end the dispatcher"
    broken, hub.runtime.db = hub.runtime.db, healthy
    broken.dispose()
    deadline = time.monotonic() + 20
    while dispatcher.failures and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dispatcher.failures == 0, "the dispatcher recovers once the database is back"
    dispatcher.stop()
    thread.join(timeout=40)
    assert not thread.is_alive()
    hub.drain()
    assert hub.api("/receipts").json["items"][0]["status"] == "parsed"
