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

import contextlib
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
from hub.store.models import Delivery, DestinationPause, Receipt

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
    """Deliveries whose worker vanished go back to `pending`; the lost try counts as an attempt,
    so a delivery that crashes its worker every time ends `failed` instead of looping."""
    released = 0
    with runtime.db.session() as session:
        expired = session.scalars(
            select(Delivery).where(Delivery.status.in_(("queued", "sending")), Delivery.lease_until < now)
        ).all()
        for row in expired:
            destination = runtime.config.destinations.get(row.destination)
            limit = destination.max_attempts if destination else 1
            row.attempts += 1
            row.lease_until = None
            row.updated_at = now
            if row.attempts - row.retry_base >= limit:
                row.status, row.reason, row.finished_at = "failed", "lease_expired", now
                row.message = (
                    f"gave up after {row.attempts - row.retry_base} attempts; the last worker vanished"
                )
            else:
                row.status, row.reason = "pending", "lease_expired"
                row.message = "the worker handling this delivery vanished; sending it again"
            released += 1
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
        # Conditional: a second dispatcher that read the same rows claims none of them.
        ids = list(
            session.scalars(
                update(Receipt)
                .where(
                    Receipt.id.in_(ids),
                    Receipt.status == "received",
                    or_(Receipt.claimed_at.is_(None), Receipt.claimed_at < stale),
                )
                .values(claimed_at=now)
                .returning(Receipt.id)
            )
        )
        if not ids:
            return 0
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
                # A paused destination keeps its deliveries pending until it is resumed.
                Delivery.destination.not_in(select(DestinationPause.destination)),
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
        claimed = set(
            session.scalars(
                update(Delivery)
                .where(Delivery.id.in_(ids), Delivery.status == "pending")
                .values(status="queued", lease_until=lease, updated_at=now)
                .returning(Delivery.id)
            )
        )
        by_destination = {d: [i for i in group if i in claimed] for d, group in by_destination.items()}
        ids = [i for i in ids if i in claimed]
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
        self.failures = 0
        self.next_alerts = 0.0

    def run(self) -> None:
        lock = self.runtime.redis.lock(LEADER_KEY, timeout=15, blocking=False)
        while not self.stopping.is_set():
            busy = False
            try:
                if lock.owned() or lock.acquire(blocking=False):
                    lock.extend(15, replace_ttl=True)
                    summary = dispatch_once(self.runtime)
                    self.check_alerts()
                    busy = bool(summary.receipts or summary.deliveries)
                self.failures = 0
            except redis.RedisError as exc:
                log.warning("redis unavailable; stored work waits", extra={"detail": str(exc)})
                self.stopping.wait(1.0)
            except Exception:
                # The database is down or locked, or a bug: the pass is retried, never abandoned,
                # since a dead dispatcher leaves every stored delivery waiting unseen.
                log.exception("dispatch pass failed; retrying")
                self.failures += 1
                self.stopping.wait(min(30.0, 2.0 ** min(self.failures, 5)))
            if not busy:
                self.stopping.wait(self.interval_s)
        with contextlib.suppress(redis.RedisError):
            if lock.owned():
                lock.release()

    def check_alerts(self) -> None:
        """Alert rules (hub.yaml `alerts:`) are checked by the elected dispatcher only: one
        evaluator, so one digest per rule and window."""
        from hub.console.alerts import EVALUATE_EVERY_S, evaluate

        settings = self.runtime.config.alerts
        if settings is None or not settings.rules or time.monotonic() < self.next_alerts:
            return
        self.next_alerts = time.monotonic() + EVALUATE_EVERY_S
        evaluate(self.runtime.db, settings)

    def stop(self) -> None:
        self.stopping.set()
