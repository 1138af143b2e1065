"""The dispatcher: moves stored work into RQ in batches, and re-drives anything stuck.

The database is the source of truth; Redis only moves work. One dispatcher is active at a time
(a Redis lock elects it), so any number of worker hosts can run one. Each pass:
1. hands unparsed receipts to `ingest` jobs (up to INGEST_BATCH receipts per job);
2. hands due deliveries to `deliver` jobs per destination, as many per job as the connector
   sends in one batch, never two at once for the same call and destination;
3. returns deliveries whose worker vanished (lease expired) to `pending`.
When Redis is unreachable nothing is claimed, so stored work simply waits for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from rq import Queue
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import aliased

from connectors import registry as connector_registry
from hub.runtime import Runtime
from hub.store.models import Delivery, Receipt

log = logging.getLogger("hub.dispatch")

INGEST_QUEUE = "ingest"
DELIVER_QUEUE = "deliver"
INGEST_BATCH = 100
JOB_TIMEOUT_S = 900
# A claim outlives the job that holds it: re-driving work that is merely slow would send it twice.
RECEIPT_CLAIM_S = JOB_TIMEOUT_S + 60
DELIVERY_LEASE_S = JOB_TIMEOUT_S + 60
LEADER_KEY = "hub:dispatcher:leader"


@dataclass
class PassSummary:
    receipts: int = 0
    deliveries: int = 0
    released: int = 0


def ingest_queue(runtime: Runtime) -> Queue:
    return Queue(INGEST_QUEUE, connection=runtime.redis, default_timeout=JOB_TIMEOUT_S)


def deliver_queue(runtime: Runtime) -> Queue:
    return Queue(DELIVER_QUEUE, connection=runtime.redis, default_timeout=JOB_TIMEOUT_S)


def dispatch_once(runtime: Runtime, now: datetime | None = None) -> PassSummary:
    moment = now or datetime.now(UTC)
    summary = PassSummary()
    summary.released = release_expired(runtime, moment)
    summary.receipts = dispatch_receipts(runtime, moment)
    summary.deliveries = dispatch_deliveries(runtime, moment)
    return summary


def release_expired(runtime: Runtime, now: datetime) -> int:
    with runtime.db.session() as session:
        result = session.execute(
            update(Delivery)
            .where(Delivery.status.in_(("queued", "sending")), Delivery.lease_until < now)
            .values(status="pending", lease_until=None, reason="lease_expired", updated_at=now)
        )
        released = int(getattr(result, "rowcount", 0) or 0)
    if released:
        log.warning("re-driving deliveries whose worker vanished", extra={"count": released})
    return released


def dispatch_receipts(runtime: Runtime, now: datetime) -> int:
    stale = now - timedelta(seconds=RECEIPT_CLAIM_S)
    with runtime.db.session() as session:
        ids = list(
            session.scalars(
                select(Receipt.id)
                .where(
                    Receipt.status == "received",
                    or_(Receipt.claimed_at.is_(None), Receipt.claimed_at < stale),
                )
                .order_by(Receipt.id)
                .limit(INGEST_BATCH * 10)
            )
        )
        if not ids:
            return 0
        session.execute(update(Receipt).where(Receipt.id.in_(ids)).values(claimed_at=now))
    chunks = [ids[i : i + INGEST_BATCH] for i in range(0, len(ids), INGEST_BATCH)]
    try:
        queue = ingest_queue(runtime)
        queue.enqueue_many([Queue.prepare_data("hub.jobs.ingest", args=(chunk,)) for chunk in chunks])
    except redis.RedisError:
        with runtime.db.session() as session:
            session.execute(update(Receipt).where(Receipt.id.in_(ids)).values(claimed_at=None))
        raise
    return len(ids)


def dispatch_deliveries(runtime: Runtime, now: datetime) -> int:
    busy = aliased(Delivery)
    with runtime.db.session() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.destination, Delivery.call_id)
            .where(
                Delivery.status == "pending",
                Delivery.due_at <= now,
                ~exists().where(
                    and_(
                        busy.call_id == Delivery.call_id,
                        busy.destination == Delivery.destination,
                        busy.status.in_(("queued", "sending")),
                    )
                ),
            )
            .order_by(Delivery.due_at)
            .limit(2000)
        ).all()
        by_destination: dict[str, list[str]] = defaultdict(list)
        seen_calls: set[tuple[str, str]] = set()
        for delivery_id, destination, call in rows:
            # One call's versions go out one at a time, oldest first.
            if (destination, call) in seen_calls:
                continue
            seen_calls.add((destination, call))
            by_destination[destination].append(delivery_id)
        ids = [i for group in by_destination.values() for i in group]
        if not ids:
            return 0
        lease = now + timedelta(seconds=DELIVERY_LEASE_S)
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(status="queued", lease_until=lease, updated_at=now)
        )
    jobs = []
    for destination, group in by_destination.items():
        size = _batch_size(runtime, destination)
        for start in range(0, len(group), size):
            jobs.append(
                Queue.prepare_data("hub.jobs.deliver", args=(destination, group[start : start + size]))
            )
    try:
        deliver_queue(runtime).enqueue_many(jobs)
    except redis.RedisError:
        with runtime.db.session() as session:
            session.execute(
                update(Delivery).where(Delivery.id.in_(ids)).values(status="pending", lease_until=None)
            )
        raise
    return len(ids)


def _batch_size(runtime: Runtime, destination_id: str) -> int:
    destination = runtime.config.destinations.get(destination_id)
    if destination is None:
        return 50
    return int(connector_registry.connector_class(destination.type).max_batch)


class Dispatcher:
    """Runs `dispatch_once` every `interval_s` while it holds leadership."""

    def __init__(self, runtime: Runtime, interval_s: float = 0.25) -> None:
        self.runtime = runtime
        self.interval_s = interval_s
        self.stopping = threading.Event()

    def run(self) -> None:
        lock = self.runtime.redis.lock(LEADER_KEY, timeout=15, blocking=False)
        while not self.stopping.is_set():
            try:
                if lock.owned() or lock.acquire(blocking=False):
                    lock.extend(15, replace_ttl=True)
                    summary = dispatch_once(self.runtime)
                    if summary.receipts or summary.deliveries:
                        log.debug("dispatched", extra=summary.__dict__)
                        continue
            except redis.RedisError as exc:
                log.warning("redis unavailable; stored work waits", extra={"detail": str(exc)})
                time.sleep(1.0)
            self.stopping.wait(self.interval_s)
        if lock.owned():
            lock.release()

    def stop(self) -> None:
        self.stopping.set()
