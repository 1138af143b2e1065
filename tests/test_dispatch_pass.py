"""The dispatcher's pass reads the state of every destination at once and acts per destination."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis as redis_lib
import yaml
from rq import Queue, Worker
from sqlalchemy import insert, select, update

from hub.dispatch import (
    LEADER_KEY,
    LEADER_RENEW_S,
    LEADER_TTL_S,
    Dispatcher,
    WorkerCounts,
    deliver_queue_name,
    dispatch_deliveries,
    dispatch_once,
    dispatch_receipts,
)
from hub.pauses import pause
from hub.redis_server import free_port
from hub.runtime import redis_client
from hub.store.models import CALLS as CALLS_TABLE
from hub.store.models import DELIVERIES, EVENTS, Delivery, Receipt
from tests.hubkit import Hub, default_config, make_hub

MISSED = "callrail/post_call_missed.json"
CALLS = (
    "callrail/post_call_answered_web_session.json",
    "callrail/post_call_missed.json",
)


def statuses(hub: Hub) -> dict[str, list[tuple[str, str | None]]]:
    with hub.runtime.db.read_session() as session:
        found = session.execute(
            select(Delivery.destination, Delivery.status, Delivery.reason).order_by(Delivery.id)
        ).all()
    by_destination: dict[str, list[tuple[str, str | None]]] = {}
    for destination, status, reason in found:
        by_destination.setdefault(destination, []).append((status, reason))
    return by_destination


def three_destinations() -> dict[str, object]:
    config = default_config()
    webhook = config["destinations"][0]
    config["destinations"] = [webhook, {**webhook, "id": "second"}, {**webhook, "id": "third"}]
    config["routes"] = [{"from": "*", "to": ["webhook", "second", "third"]}]
    return config


def ingested(hub: Hub) -> None:
    hub.runtime.sandbox_urls = dict.fromkeys(hub.runtime.config.destinations, hub.receiver.url)
    for fixture in CALLS:
        assert hub.post_fixture("callrail", fixture).status_code == 202
    dispatch_once(hub.runtime)
    hub.run_jobs()  # ingest only: nothing was due for delivery when the pass ran


def test_one_pass_serves_every_destination_with_work_except_a_paused_one(
    tmp_path: Path, redis_url: str, database_url: str
) -> None:
    with make_hub(tmp_path, redis_url, database_url, three_destinations()) as hub:
        ingested(hub)
        now = datetime.now(UTC)
        with hub.runtime.db.session() as session:
            pause(session, "second", "tester", "maintenance", now)
        assert dispatch_deliveries(hub.runtime, now).deliveries == 4
        found = statuses(hub)
        assert {s for s, _ in found["webhook"]} == {"queued"}
        assert {s for s, _ in found["third"]} == {"queued"}
        assert {s for s, _ in found["second"]} == {"pending"}, "paused: left pending, unclaimed"
        # Nothing more is due: the next pass claims nothing.
        assert dispatch_deliveries(hub.runtime, datetime.now(UTC)).deliveries == 0


def test_deliveries_to_a_destination_removed_from_hub_yaml_fail(
    tmp_path: Path, redis_url: str, database_url: str
) -> None:
    with make_hub(tmp_path, redis_url, database_url, three_destinations()) as hub:
        ingested(hub)
        config = three_destinations()
        config["destinations"] = config["destinations"][:1]  # type: ignore[index]
        config["routes"] = [{"from": "*", "to": ["webhook"]}]
        (tmp_path / "hub.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        hub.restart()
        # The leader asks about removed destinations once a minute, not on every pass: until
        # then their deliveries wait, pending, and the others go out.
        assert dispatch_deliveries(hub.runtime, datetime.now(UTC), check_orphans=False).deliveries == 2
        assert {s for s, _ in statuses(hub)["second"]} == {"pending"}
        assert dispatch_deliveries(hub.runtime, datetime.now(UTC)).deliveries == 0
        found = statuses(hub)
        assert {s for s, _ in found["webhook"]} == {"queued"}
        for gone in ("second", "third"):
            assert found[gone] == [("failed", "unknown_destination")] * 2


def test_worker_counts_are_read_again_once_stale(hub: Hub) -> None:
    connection = redis_lib.Redis.from_url(hub.runtime.redis_url)
    queue = Queue(deliver_queue_name("webhook"), connection=connection)
    cached, fresh = WorkerCounts(ttl_s=3600), WorkerCounts(ttl_s=0)
    assert cached.count(queue) == 0
    worker = Worker([queue], connection=connection)
    worker.register_birth()  # type: ignore[no-untyped-call]
    try:
        assert cached.count(queue) == 0, "within its time to live"
        assert fresh.count(queue) == 1
    finally:
        worker.register_death()  # type: ignore[no-untyped-call]
    assert fresh.count(queue) == 0


def test_claims_whose_jobs_cannot_be_enqueued_are_released(
    tmp_path: Path, redis_url: str, database_url: str
) -> None:
    config = three_destinations()
    for destination in config["destinations"]:  # type: ignore[attr-defined]
        destination["max_in_flight"] = 2  # no worker count to read: the pass reaches the enqueue
    with make_hub(tmp_path, redis_url, database_url, config) as hub:
        ingested(hub)
        hub.runtime.redis_url = f"redis://127.0.0.1:{free_port()}/0"
        hub.runtime.__dict__["redis"] = redis_client(hub.runtime.redis_url, timeout_s=0.2)
        with pytest.raises(redis_lib.RedisError):
            dispatch_once(hub.runtime)
        with hub.runtime.db.read_session() as session:
            claims = session.execute(select(Delivery.status, Delivery.claim_token)).all()
        assert set(claims) == {("pending", None)}, "every claim of the pass handed back"
        hub.runtime.redis_url = redis_url
        hub.runtime.__dict__["redis"] = redis_client(redis_url)
        hub.drain()
        assert {s for found in statuses(hub).values() for s, _ in found} == {"delivered"}
        assert len(hub.received()) == 6


def test_one_dispatcher_leads_and_renews_its_lock_only_now_and_then(redis_url: str) -> None:
    client = redis_lib.Redis.from_url(redis_url)
    first, second = (client.lock(LEADER_KEY, timeout=LEADER_TTL_S, blocking=False) for _ in range(2))
    led = Dispatcher.lead(first, None)
    assert led is not None
    assert Dispatcher.lead(second, None) is None, "one leader at a time"
    # Between renewals the leader asks Redis nothing: a lock it lost meanwhile still looks held...
    client.delete(LEADER_KEY)
    assert Dispatcher.lead(first, led) == led
    # ...until its next renewal, which finds it lapsed: it steps down, and another may lead.
    assert Dispatcher.lead(first, led - LEADER_RENEW_S) is None
    assert Dispatcher.lead(second, None) is not None
    assert Dispatcher.lead(first, None) is None
    # A leader that forgot it led (Redis went away for a moment) finds its own lock again.
    assert Dispatcher.lead(second, None) is not None
    renewed = Dispatcher.lead(second, time.monotonic() - LEADER_RENEW_S)
    assert renewed is not None
    assert 0 < client.pttl(LEADER_KEY) <= LEADER_TTL_S * 1000
    client.close()


def test_room_freed_by_a_chunk_waits_for_a_whole_ingest_job(hub: Hub) -> None:
    """With the claim cap reached, a receipt or two parsed do not become an ingest job each."""
    for n in range(5):
        hub.post_fixture(
            "callrail",
            MISSED,
            edit=lambda body, n=n: body.replace(b'"resource_id":"CAL', f'"resource_id":"CAL{n}'.encode()),
        )
    now = datetime.now(UTC)
    assert dispatch_receipts(hub.runtime, now, batch=2, cap=4) == 4
    with hub.runtime.db.session() as session:
        first, second = session.scalars(
            select(Receipt).where(Receipt.claim_token.is_not(None)).order_by(Receipt.id).limit(2)
        )
        first.status = "parsed"
    assert dispatch_receipts(hub.runtime, now, batch=2, cap=4) == 0, "one freed place waits for a second"
    with hub.runtime.db.session() as session:
        session.get_one(Receipt, second.id).status = "parsed"
    assert dispatch_receipts(hub.runtime, now, batch=2, cap=4) == 1, "the last receipt left"


def copies_of_the_call(hub: Hub, count: int) -> None:
    """`count` more calls like the stored one, each with its version and its webhook delivery."""
    with hub.runtime.db.session() as session:
        call = dict(session.execute(select(CALLS_TABLE)).mappings().one())
        event = dict(session.execute(select(EVENTS)).mappings().one())
        delivery = dict(session.execute(select(DELIVERIES)).mappings().one())
        session.execute(
            insert(CALLS_TABLE),
            [{**call, "id": f"{call['id']}-{n}", "provider_call_id": f"copy{n}"} for n in range(count)],
        )
        session.execute(
            insert(EVENTS),
            [{**event, "id": f"{event['id']}-{n}", "call_id": f"{call['id']}-{n}"} for n in range(count)],
        )
        session.execute(
            insert(DELIVERIES),
            [
                {
                    **delivery,
                    "id": f"copy-{n}",
                    "call_id": f"{call['id']}-{n}",
                    "event_id": f"{event['id']}-{n}",
                }
                for n in range(count)
            ],
        )


def test_a_pass_is_followed_soon_only_when_it_left_due_deliveries_behind(
    tmp_path: Path, redis_url: str, database_url: str
) -> None:
    """Under steady load a pass right after one that handed out all there was would find a
    receipt or two, each then costing its own claim, jobs and transactions: the loop waits its
    interval, unless the read's limit or the workers' room held due deliveries back."""
    config = default_config()
    config["destinations"][0]["max_in_flight"] = 6  # room for 300 (batches of 50)
    with make_hub(tmp_path, redis_url, database_url, config) as hub:
        assert hub.post_fixture("callrail", MISSED).status_code == 202
        dispatch_once(hub.runtime)
        hub.run_jobs()
        copies_of_the_call(hub, 350)
        dispatcher = Dispatcher(hub.runtime)
        # One pass reads four batches of a destination (200 of the 351 due).
        assert dispatcher.full_pass() is True, "the read's limit held due deliveries back"
        assert queued(hub) == 200
        assert dispatcher.full_pass() is True, "the workers' room held the rest back"
        assert queued(hub) == 300
        assert dispatcher.full_pass() is True, "no room: the due ones wait for the next pass"
        with hub.runtime.db.session() as session:
            session.execute(update(Delivery).where(Delivery.status == "queued").values(status="delivered"))
        assert dispatcher.full_pass() is False, "it handed out all there was"
        assert queued(hub) == 51
        hub.post_fixture("callrail", CALLS[0])
        assert dispatcher.full_pass() is False, "a receipt claimed leaves nothing due behind it"


def queued(hub: Hub) -> int:
    return [status for status, _ in statuses(hub)["webhook"]].count("queued")


def claim_of(hub: Hub, model: type[Receipt] | type[Delivery]) -> str | None:
    with hub.runtime.db.read_session() as session:
        return session.scalar(select(model.claim_token))


def test_a_pass_without_the_lapsed_check_claims_unclaimed_receipts_only(hub: Hub) -> None:
    hub.post_fixture("callrail", MISSED)
    assert dispatch_receipts(hub.runtime, datetime.now(UTC)) == 1
    lost = claim_of(hub, Receipt)
    hub.lose_jobs()
    hub.post_fixture("callrail", CALLS[0])
    later = hub.later(hub.runtime.settings.lease_s + 1)
    assert dispatch_receipts(hub.runtime, later, check_lapsed=False) == 1, "the new receipt only"
    with hub.runtime.db.read_session() as session:
        assert session.scalar(select(Receipt.claim_token).where(Receipt.id == 1)) == lost
    assert dispatch_receipts(hub.runtime, later, check_lapsed=False) == 0
    assert dispatch_receipts(hub.runtime, later) == 1, "the lapsed claim, once looked for"


def test_the_leader_looks_for_lapsed_claims_now_and_then_not_on_every_pass(hub: Hub) -> None:
    hub.post_fixture("callrail", MISSED)
    dispatcher = Dispatcher(hub.runtime)
    dispatcher.full_pass()
    hub.run_jobs()
    dispatcher.full_pass()
    lost = claim_of(hub, Delivery)
    assert lost is not None, "the delivery is claimed"
    assert dispatcher.next_lapse_check > time.monotonic(), "the next look is scheduled"
    hub.lose_jobs()
    with hub.runtime.db.session() as session:
        session.get_one(Delivery, session.scalar(select(Delivery.id))).lease_until = hub.later(-1)
    dispatcher.next_lapse_check = time.monotonic() + 3600
    dispatcher.full_pass()
    assert claim_of(hub, Delivery) == lost, "not looked for on this pass"
    dispatcher.next_lapse_check = 0.0
    dispatcher.full_pass()
    renewed = claim_of(hub, Delivery)
    assert renewed not in (None, lost), "released, then claimed again under a new token"
