"""`hub prune`: delete what is older than hub.yaml's `retention:` allows (the dispatcher runs it daily).

Exchanges (requests and answers, which repeat callers' numbers and names) go first, then
attempts, then whole calls with their versions, deliveries and webhook deliveries, then refused
deliveries past HUB_REFUSED_RETENTION_DAYS (the webhook request path never deletes). Calls with
work still to do are kept whatever their age. Deletes run in chunks, each its own transaction,
so a large first prune never holds the database for long.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import Select, String, and_, cast, delete, exists, select, update

from hub import audit
from hub.config import RetentionConfig
from hub.refusals import RefusalPolicy
from hub.store.db import Database
from hub.store.models import Attempt, AuditEntry, Batch, Call, Delivery, Event, Receipt

log = logging.getLogger("hub.prune")

CHUNK = 500
#: Statuses of a delivery that still has work ahead: its call is never pruned.
ACTIVE = ("pending", "queued", "sending", "held")
#: Redis keys: the day of the last daily prune, and who runs it now.
LAST_KEY = "hub:prune:last-day"
RUNNING_KEY = "hub:prune:running"


@dataclass
class PruneReport:
    attempt_exchanges_emptied: int = 0
    batch_exchanges_emptied: int = 0
    attempts: int = 0
    batches: int = 0
    calls: int = 0
    versions: int = 0
    deliveries: int = 0
    receipts: int = 0
    unparsed_receipts: int = 0
    refused_receipts: int = 0
    audit_entries: int = 0

    def lines(self) -> list[str]:
        return [f"{name.replace('_', ' ')}: {count}" for name, count in asdict(self).items()]


def prune(
    db: Database,
    retention: RetentionConfig,
    *,
    actor: str,
    now: datetime | None = None,
    refused_retention: timedelta | None = None,
) -> PruneReport:
    """Delete what is past its retention; refused deliveries after `refused_retention`
    (default: HUB_REFUSED_RETENTION_DAYS)."""
    moment = now or datetime.now(UTC)
    report = PruneReport()

    def cutoff(days: int) -> datetime:
        return moment - timedelta(days=days)

    exchanges_before = cutoff(retention.exchanges_days)
    with db.session() as session:
        report.attempt_exchanges_emptied = _count(
            session.execute(
                update(Attempt)
                .where(Attempt.finished_at < exchanges_before, cast(Attempt.exchanges, String) != "[]")
                .values(exchanges=[])
            )
        )
        report.batch_exchanges_emptied = _count(
            session.execute(
                update(Batch)
                .where(Batch.finished_at < exchanges_before, cast(Batch.exchanges, String) != "[]")
                .values(exchanges=[])
            )
        )
    attempts_before = cutoff(retention.attempts_days)
    report.attempts = _in_chunks(db, select(Attempt.id).where(Attempt.finished_at < attempts_before), Attempt)
    with db.session() as session:
        report.batches = _count(
            session.execute(
                delete(Batch).where(
                    Batch.finished_at < attempts_before, ~exists().where(Attempt.batch_id == Batch.id)
                )
            )
        )
    _prune_calls(db, cutoff(retention.calls_days), report)
    unparsed_before = cutoff(retention.unparsed_receipts_days)
    report.unparsed_receipts = _in_chunks(
        db,
        # Not waiting to be parsed, and no call version came from it.
        select(Receipt.id).where(
            Receipt.received_at < unparsed_before,
            Receipt.status != "received",
            ~exists().where(Event.receipt_id == Receipt.id),
        ),
        Receipt,
    )
    refused_kept = RefusalPolicy.from_env().retention if refused_retention is None else refused_retention
    report.refused_receipts = _in_chunks(
        db,
        select(Receipt.id).where(Receipt.status == "refused", Receipt.received_at < moment - refused_kept),
        Receipt,
    )
    with db.session() as session:
        report.audit_entries = _count(
            session.execute(delete(AuditEntry).where(AuditEntry.at < cutoff(retention.audit_days)))
        )
        audit.record(session, actor, "prune", {"retention": asdict(retention), **asdict(report)})
    log.info("pruned stored data", extra=asdict(report))
    return report


def _prune_calls(db: Database, before: datetime, report: PruneReport) -> None:
    busy = exists().where(and_(Delivery.call_id == Call.id, Delivery.status.in_(ACTIVE)))
    while True:
        with db.session() as session:
            call_ids = list(
                session.scalars(select(Call.id).where(Call.updated_at < before, ~busy).limit(CHUNK))
            )
            if not call_ids:
                return
            delivery_ids = select(Delivery.id).where(Delivery.call_id.in_(call_ids))
            receipt_ids = set(session.scalars(select(Event.receipt_id).where(Event.call_id.in_(call_ids))))
            report.attempts += _count(
                session.execute(delete(Attempt).where(Attempt.delivery_id.in_(delivery_ids)))
            )
            report.deliveries += _count(
                session.execute(delete(Delivery).where(Delivery.call_id.in_(call_ids)))
            )
            report.versions += _count(session.execute(delete(Event).where(Event.call_id.in_(call_ids))))
            report.calls += _count(session.execute(delete(Call).where(Call.id.in_(call_ids))))
            # A webhook delivery goes with its last call (one may carry several calls' events).
            report.receipts += _count(
                session.execute(
                    delete(Receipt).where(
                        Receipt.id.in_(receipt_ids), ~exists().where(Event.receipt_id == Receipt.id)
                    )
                )
            )


def _in_chunks(db: Database, ids: Select[int], table: type[Attempt] | type[Receipt]) -> int:
    """Delete the rows whose ids `ids` selects, CHUNK at a time; returns how many."""
    removed = 0
    while True:
        with db.session() as session:
            chunk = list(session.scalars(ids.limit(CHUNK)))
            if not chunk:
                return removed
            removed += _count(session.execute(delete(table).where(table.id.in_(chunk))))


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def prune_if_due(
    db: Database, retention: RetentionConfig, client: redis.Redis, now: datetime | None = None
) -> bool:
    """Once a day across all dispatchers: prune when today's run has not happened yet."""
    moment = now or datetime.now(UTC)
    today = moment.date().isoformat()
    last = client.get(LAST_KEY)
    if last is not None and (last.decode() if isinstance(last, bytes) else str(last)) == today:
        return False
    if not client.set(RUNNING_KEY, today, nx=True, ex=3600):
        return False
    try:
        prune(db, retention, actor="dispatcher", now=moment)
        client.set(LAST_KEY, today)
    finally:
        client.delete(RUNNING_KEY)
    return True
