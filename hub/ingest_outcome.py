"""What ingest records on a chunk's receipts, and publishes once the chunk committed."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hub import metrics
from hub.config import SourceConfig
from hub.core.errors import NotACall
from hub.core.events import CallEvent
from hub.store.bulk import BulkWrite
from hub.store.models import RECEIPTS

log = logging.getLogger("hub.ingest")


@dataclass
class IngestSummary:
    """What one ingest job did to its receipts."""

    parsed: int = 0
    failed: int = 0
    ignored: int = 0
    events: int = 0
    skipped_receipts: list[int] = field(default_factory=list)
    #: Handed back to the dispatcher after repeated transient storage errors.
    retried: list[int] = field(default_factory=list)


def describe(exc: BaseException) -> str:
    """An error's type and first line, as stored with a failed receipt (no parameter values)."""
    detail = getattr(exc, "orig", None) or exc
    return f"{type(detail).__name__}: {str(detail).splitlines()[0] if str(detail) else ''}"


@dataclass
class ParsedReceipt:
    """A receipt whose versions are to be stored (those of forgotten callers left out)."""

    receipt_id: int
    source: SourceConfig
    events: list[CallEvent]
    #: `events` serialized as stored, in the same order.
    payloads: list[dict[str, Any]]


@dataclass
class TakenReceipt:
    """A receipt this chunk records, and what it records on it (one UPDATE for the whole chunk)."""

    id: int
    source: str
    status: str
    error_reason: str | None
    error: str | None
    events_count: int
    emptied: bool = False


@dataclass
class ChunkOutcome:
    """What a chunk did, published (summary, metrics, logs) only once its transaction committed."""

    parsed: list[ParsedReceipt] = field(default_factory=list)
    failed: list[tuple[str, int, str]] = field(default_factory=list)
    ignored: list[tuple[str, int, str]] = field(default_factory=list)
    forgotten: list[tuple[str, int]] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)

    def publish(self, summary: IngestSummary) -> None:
        summary.skipped_receipts.extend(self.skipped)
        for item in self.parsed:
            summary.parsed += 1
            summary.events += len(item.events)
            for event in item.events:
                metrics.EVENTS.labels(source=item.source.id, kind=event.kind).inc()
            metrics.PARSED.labels(source=item.source.id, outcome="parsed").inc()
            log.info(
                "parsed delivery",
                extra={
                    "source": item.source.id,
                    "receipt_id": item.receipt_id,
                    "events": [e.id for e in item.events],
                },
            )
        for source_id, receipt_id, reason in self.ignored:
            summary.ignored += 1
            metrics.PARSED.labels(source=source_id, outcome="ignored").inc()
            log.info(
                "ignored delivery", extra={"source": source_id, "receipt_id": receipt_id, "reason": reason}
            )
        for source_id, receipt_id in self.forgotten:
            log.info(
                "dropped delivery of a forgotten caller",
                extra={"source": source_id, "receipt_id": receipt_id},
            )
        for source_id, receipt_id, reason in self.failed:
            summary.failed += 1
            metrics.PARSED.labels(source=source_id, outcome="failed").inc()
            log.warning(
                "cannot parse delivery",
                extra={"source": source_id, "receipt_id": receipt_id, "reason": reason},
            )


_RECORD = BulkWrite(
    update(RECEIPTS)
    .where(RECEIPTS.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        error_reason=bindparam("b_error_reason"),
        error=bindparam("b_error"),
        events_count=bindparam("b_events_count"),
        parse_attempts=RECEIPTS.c.parse_attempts + 1,
        updated_at=bindparam("b_now"),
        claimed_at=None,
        claim_token=None,
        lease_until=None,
    )
)


def record_outcomes(session: Session, taken: list[TakenReceipt]) -> None:
    """Every outcome of the chunk on its receipts, and their claims released, in one statement."""
    if not taken:
        return
    now = datetime.now(UTC)
    connection = session.connection()
    _RECORD.execute(
        connection,
        [
            {
                "b_id": r.id,
                "b_status": r.status,
                "b_error_reason": r.error_reason,
                "b_error": r.error,
                "b_events_count": r.events_count,
                "b_now": now,
            }
            for r in taken
        ],
    )
    emptied = [r.id for r in taken if r.emptied]
    if emptied:
        connection.execute(update(RECEIPTS).where(RECEIPTS.c.id.in_(emptied)).values(body=b"", headers={}))


def ignore(receipt: TakenReceipt, exc: NotACall, outcome: ChunkOutcome) -> None:
    """A delivery that is not a call (a form, a chat, an SMS): kept and shown, never delivered."""
    receipt.status = "ignored"
    receipt.error_reason = exc.reason
    receipt.error = exc.message
    receipt.events_count = 0
    outcome.ignored.append((receipt.source, receipt.id, exc.reason))


def fail_with(receipt: TakenReceipt, exc: Exception, outcome: ChunkOutcome) -> None:
    """Failed by an error while storing it: `store_error` when the database refused it."""
    reason = "store_error" if isinstance(exc, SQLAlchemyError) else "ingest_error"
    fail(receipt, reason, describe(exc), outcome)


def fail(receipt: TakenReceipt, reason: str, message: str, outcome: ChunkOutcome) -> None:
    """Failed with its cause, kept and replayable."""
    receipt.status = "failed"
    receipt.error_reason = reason
    receipt.error = message
    outcome.failed.append((receipt.source, receipt.id, reason))
