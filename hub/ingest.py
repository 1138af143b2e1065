"""Worker side of receipt: parse stored deliveries into call versions and route them.

Idempotent at every step: an event id is derived from the stored delivery, so re-running a
receipt (a replay after a parser fix, a worker that died mid-way) adds nothing twice; one
delivery record exists per (call version x destination).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hub import metrics
from hub.config import SourceConfig
from hub.core.errors import NotACall, ParseError
from hub.core.events import KIND_COMPLETED, CallEvent, dump_event, load_event
from hub.erasure import is_forgotten
from hub.merge import call_id, merge
from hub.runtime import Runtime
from hub.store.models import Call, Delivery, Event, Receipt
from webhooks.base import Headers, InboundRequest

log = logging.getLogger("hub.ingest")


@dataclass
class IngestSummary:
    parsed: int = 0
    failed: int = 0
    ignored: int = 0
    events: int = 0
    deliveries: int = 0
    skipped_receipts: list[int] = field(default_factory=list)
    #: What to report (metrics, logs) once the transaction that did it has committed.
    notes: list[tuple[str, str, int, Any]] = field(default_factory=list, repr=False)

    def absorb(self, other: IngestSummary) -> None:
        """Add a committed chunk's counts and report what it did."""
        self.parsed += other.parsed
        self.failed += other.failed
        self.ignored += other.ignored
        self.events += other.events
        self.deliveries += other.deliveries
        self.skipped_receipts.extend(other.skipped_receipts)
        for outcome, source_id, receipt_id, detail in other.notes:
            if outcome == "parsed":
                for _event_id, kind in detail:
                    metrics.EVENTS.labels(source=source_id, kind=kind).inc()
                metrics.PARSED.labels(source=source_id, outcome="parsed").inc()
                log.info(
                    "parsed delivery",
                    extra={"source": source_id, "receipt_id": receipt_id, "events": [e for e, _ in detail]},
                )
            elif outcome == "ignored":
                metrics.PARSED.labels(source=source_id, outcome="ignored").inc()
                log.info(
                    "ignored delivery",
                    extra={"source": source_id, "receipt_id": receipt_id, "reason": detail},
                )
            else:
                metrics.PARSED.labels(source=source_id, outcome="failed").inc()
                log.warning(
                    "cannot parse delivery",
                    extra={"source": source_id, "receipt_id": receipt_id, "reason": detail},
                )


@dataclass(frozen=True)
class Parsed:
    """A receipt's versions, or why it has none, worked out before its write transaction."""

    events: list[CallEvent] | None = None
    error: ParseError | None = None
    ignored: NotACall | None = None
    crash: Exception | None = None


def new_delivery_id() -> str:
    return f"dlv_{secrets.token_hex(12)}"


def request_of(receipt: Receipt) -> InboundRequest:
    return InboundRequest(
        receipt.method, receipt.url, Headers(receipt.headers), receipt.body, receipt.received_at
    )


def ingest(runtime: Runtime, receipt_ids: Sequence[int], token: str | None = None) -> IngestSummary:
    """Parse a job's receipts, then store them in one transaction per chunk.

    Parsing runs before the write transaction, so on SQLite the write lock is held only for the
    writes. A chunk is written without a savepoint per receipt; when its transaction fails, each
    receipt is written again alone, so only the one that fails is marked failed (with its cause,
    replayable) and the others are stored.

    Only receipts still held by the claim `token` are written (None: receipts nobody claimed); a
    receipt whose claim lapsed and was handed to another job is left to that job.
    """
    summary = IngestSummary()
    chunk = 25 if runtime.db.url.startswith("sqlite") else 100
    for start in range(0, len(receipt_ids), chunk):
        ids = list(receipt_ids[start : start + chunk])
        parsed = parse_ahead(runtime, ids, token)
        done = IngestSummary()
        try:
            with runtime.db.session() as session:
                for receipt_id in ids:
                    ingest_one(runtime, session, receipt_id, done, token, parsed.get(receipt_id))
        except Exception:  # noqa: BLE001
            # Which receipt broke the chunk is not known: each is written alone.
            for receipt_id in ids:
                summary.absorb(_ingest_alone(runtime, receipt_id, token, parsed.get(receipt_id)))
            continue
        summary.absorb(done)
    return summary


def _ingest_alone(
    runtime: Runtime, receipt_id: int, token: str | None, parsed: Parsed | None
) -> IngestSummary:
    done = IngestSummary()
    try:
        with runtime.db.session() as session:
            ingest_one(runtime, session, receipt_id, done, token, parsed)
    except Exception as exc:  # noqa: BLE001
        # Stored with its cause and replayable, so one bad receipt neither blocks the others of
        # its chunk nor disappears.
        done = IngestSummary()
        with runtime.db.session() as session:
            _fail_stored(session, receipt_id, exc, done, token)
    return done


def parse_ahead(runtime: Runtime, receipt_ids: Sequence[int], token: str | None) -> dict[int, Parsed]:
    """Normalize the receipts this claim holds, reading without any write lock."""
    parsed: dict[int, Parsed] = {}
    with runtime.db.read_session() as session:
        receipts = session.scalars(
            select(Receipt).where(
                Receipt.id.in_(receipt_ids), Receipt.status == "received", Receipt.claim_token == token
            )
        ).all()
        requests = [(r.id, r.source, r.receipt_key, request_of(r)) for r in receipts]
    for receipt_id, source_id, key, request in requests:
        source = runtime.source(source_id)
        if source is None:
            continue
        try:
            parsed[receipt_id] = Parsed(events=runtime.provider(source).normalize(request, key))
        except ParseError as exc:
            parsed[receipt_id] = Parsed(error=exc)
        except NotACall as exc:
            parsed[receipt_id] = Parsed(ignored=exc)
        except Exception as exc:  # noqa: BLE001
            # A parser bug: recorded on the receipt (ingest_error), replayable after the fix.
            parsed[receipt_id] = Parsed(crash=exc)
    return parsed


def _fail_stored(
    session: Session, receipt_id: int, exc: Exception, summary: IngestSummary, token: str | None
) -> None:
    receipt = session.get(Receipt, receipt_id, populate_existing=True)
    if receipt is None or receipt.status != "received" or receipt.claim_token != token:
        return
    reason = "store_error" if isinstance(exc, SQLAlchemyError) else "ingest_error"
    detail = getattr(exc, "orig", None) or exc
    receipt.parse_attempts += 1
    receipt.claimed_at = receipt.claim_token = receipt.lease_until = None
    receipt.updated_at = datetime.now(UTC)
    _fail(receipt, reason, f"{type(detail).__name__}: {detail}", summary)


def ingest_one(
    runtime: Runtime,
    session: Session,
    receipt_id: int,
    summary: IngestSummary,
    token: str | None = None,
    parsed: Parsed | None = None,
) -> None:
    """Store one receipt's versions in `session`; `parsed` is its normalization when done ahead."""
    # Locked until the commit: a dispatcher re-claiming it (its lease lapsed) waits, then finds
    # it parsed. On SQLite the write transaction already excludes every other writer.
    receipt = session.get(Receipt, receipt_id, with_for_update=True, populate_existing=True)
    if receipt is None or receipt.status != "received" or receipt.claim_token != token:
        summary.skipped_receipts.append(receipt_id)
        return
    source = runtime.source(receipt.source)
    receipt.parse_attempts += 1
    receipt.updated_at = datetime.now(UTC)
    receipt.claimed_at = receipt.claim_token = receipt.lease_until = None
    if source is None:
        _fail(receipt, "unknown_source", f"source {receipt.source!r} is no longer in hub.yaml", summary)
        return
    if parsed is None:
        try:
            parsed = Parsed(
                events=runtime.provider(source).normalize(request_of(receipt), receipt.receipt_key)
            )
        except ParseError as exc:
            parsed = Parsed(error=exc)
        except NotACall as exc:
            parsed = Parsed(ignored=exc)
    if parsed.crash is not None:
        _fail(receipt, "ingest_error", f"{type(parsed.crash).__name__}: {parsed.crash}", summary)
        return
    if parsed.error is not None:
        _fail(receipt, parsed.error.reason, parsed.error.message, summary)
        return
    if parsed.ignored is not None:
        _ignore(receipt, parsed.ignored, summary)
        return
    events = parsed.events or []
    kept = [event for event in events if not is_forgotten(session, event.caller.number)]
    if events and not kept:
        # A late redelivery of an erased caller's call: nothing of it is kept.
        receipt.status, receipt.body, receipt.headers = "forgotten", b"", {}
        log.info(
            "dropped delivery of a forgotten caller", extra={"source": source.id, "receipt_id": receipt.id}
        )
        return
    events = kept
    for event in events:
        summary.deliveries += store_version(runtime, session, source, event, receipt.id)
    receipt.status = "parsed"
    receipt.error = receipt.error_reason = None
    receipt.events_count = len(events)
    summary.parsed += 1
    summary.events += len(events)
    summary.notes.append(("parsed", source.id, receipt.id, [(e.id, e.kind) for e in events]))


def _ignore(receipt: Receipt, exc: NotACall, summary: IngestSummary) -> None:
    """A delivery that is not a call (a form, a chat, an SMS): kept and shown, never delivered."""
    receipt.status = "ignored"
    receipt.error_reason = exc.reason
    receipt.error = exc.message
    receipt.events_count = 0
    summary.ignored += 1
    summary.notes.append(("ignored", receipt.source, receipt.id, exc.reason))


def _fail(receipt: Receipt, reason: str, message: str, summary: IngestSummary) -> None:
    receipt.status = "failed"
    receipt.error_reason = reason
    receipt.error = message
    summary.failed += 1
    summary.notes.append(("failed", receipt.source, receipt.id, reason))


def store_version(
    runtime: Runtime, session: Session, source: SourceConfig, event: CallEvent, receipt_id: int
) -> int:
    """Store one version, refresh the call's merged state, create its deliveries; returns how many."""
    if session.get(Event, event.id) is not None:
        return 0
    now = datetime.now(UTC)
    the_call_id = call_id(event.source, event.provider_call_id)
    # Versions of one call ingested by two workers at once must merge one after the other: the
    # row lock serializes them, and a call that does not exist yet is created by whichever insert
    # comes first (the other finds it) rather than by two racing inserts.
    call = session.get(Call, the_call_id, with_for_update=True)
    if call is None:
        session.execute(
            _insert_ignoring_conflict(session, Call)
            .values(
                id=the_call_id,
                source=event.source,
                provider=event.provider,
                provider_call_id=event.provider_call_id,
                kind=event.kind,
                state={},
                version_count=0,
                first_event_at=event.occurred_at,
                last_event_at=event.occurred_at,
                updated_at=now,
            )
            .on_conflict_do_nothing()
        )
        call = session.get(Call, the_call_id, with_for_update=True, populate_existing=True)
        assert call is not None, "the call row exists once inserted"
    earlier = [
        load_event(row) for row in session.scalars(select(Event.payload).where(Event.call_id == the_call_id))
    ]
    session.add(
        Event(
            id=event.id,
            receipt_id=receipt_id,
            call_id=the_call_id,
            source=event.source,
            kind=event.kind,
            occurred_at=event.occurred_at,
            payload=dump_event(event),
            created_at=now,
        )
    )
    merged = merge([*earlier, event])
    call.state = dump_event(merged)
    call.kind = merged.kind
    call.caller_number = merged.caller.number
    call.version_count = len(earlier) + 1
    call.first_event_at = min(call.first_event_at, event.occurred_at)
    call.last_event_at = max(call.last_event_at, event.occurred_at)
    call.updated_at = now
    return _route(runtime, session, source, event, the_call_id, now)


def _insert_ignoring_conflict(session: Session, model: type[Call]) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql_insert if dialect == "postgresql" else sqlite_insert)(model)


def _route(
    runtime: Runtime,
    session: Session,
    source: SourceConfig,
    event: CallEvent,
    the_call_id: str,
    now: datetime,
) -> int:
    created = 0
    for destination in runtime.config.destinations_for(source.id):
        due = now + timedelta(seconds=source.settle_s) if event.kind == KIND_COMPLETED else now
        delivery_id = new_delivery_id()
        # A version not yet sent is folded into this newer one: the destination receives the
        # call's current state once, at the later of the two due times (the settle window).
        # Conditional on `pending`: one the dispatcher claimed meanwhile is left to its job.
        folded = session.scalars(
            update(Delivery)
            .where(
                Delivery.call_id == the_call_id,
                Delivery.destination == destination,
                Delivery.status == "pending",
            )
            .values(
                status="skipped",
                reason="superseded",
                message=f"folded into {delivery_id}",
                superseded_by=delivery_id,
                updated_at=now,
                finished_at=now,
            )
            .returning(Delivery.due_at)
        ).all()
        due = max([due, *folded])
        session.add(
            Delivery(
                id=delivery_id,
                call_id=the_call_id,
                event_id=event.id,
                destination=destination,
                status="pending",
                attempts=0,
                retry_base=0,
                due_at=due,
                external_ids={},
                created_at=now,
                updated_at=now,
            )
        )
        created += 1
    return created
