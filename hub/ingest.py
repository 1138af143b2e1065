"""Worker side of receipt: parse stored deliveries into call versions and route them.

Idempotent at every step: an event id is derived from the stored delivery, so re-running a
receipt (a replay after a parser fix, a worker that died mid-way) adds nothing twice; one
delivery record exists per (call version x destination).
"""

from __future__ import annotations

import logging
import secrets
import time
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
from hub.store.transient import is_transient
from webhooks.base import Headers, InboundRequest

log = logging.getLogger("hub.ingest")


@dataclass
class IngestSummary:
    parsed: int = 0
    failed: int = 0
    ignored: int = 0
    events: int = 0
    skipped_receipts: list[int] = field(default_factory=list)
    #: Handed back to the dispatcher after repeated transient storage errors.
    retried: list[int] = field(default_factory=list)


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


#: Tries of one chunk when the database fails transiently (a deadlock, a dropped connection,
#: SQLite busy past its deadline), with a growing pause between them; then its receipts are
#: handed back to the dispatcher unchanged.
TRANSIENT_TRIES = 3
TRANSIENT_PAUSE_S = 0.25


def ingest(runtime: Runtime, receipt_ids: Sequence[int], token: str | None = None) -> IngestSummary:
    """Parse a job's receipts, then store them in one transaction per chunk.

    Parsing runs before the write transaction, so on SQLite the write lock is held only for the
    writes. A chunk is written without a savepoint per receipt; when that fails, each receipt is
    written in its own savepoint, so only the one that fails is marked failed (with its cause,
    replayable). A storage error that passes on its own (a deadlock, a dropped connection, SQLite
    busy) retries the chunk, then hands its receipts back to the dispatcher: never `failed`.

    Only receipts still held by the claim `token` are written (None: receipts nobody claimed); a
    receipt whose claim lapsed and was handed to another job is left to that job.
    """
    summary = IngestSummary()
    chunk = 25 if runtime.db.url.startswith("sqlite") else 100
    for start in range(0, len(receipt_ids), chunk):
        ids = list(receipt_ids[start : start + chunk])
        _ingest_chunk(runtime, ids, summary, token, parse_ahead(runtime, ids, token))
    return summary


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
        if source is not None:
            parsed[receipt_id] = _normalize(runtime, source, request, key)
    return parsed


def _normalize(runtime: Runtime, source: SourceConfig, request: InboundRequest, key: str) -> Parsed:
    """One receipt's versions, or why it has none."""
    try:
        return Parsed(events=runtime.provider(source).normalize(request, key))
    except ParseError as exc:
        return Parsed(error=exc)
    except NotACall as exc:
        return Parsed(ignored=exc)
    except Exception as exc:  # noqa: BLE001
        # A parser bug: recorded on the receipt (ingest_error), replayable after the fix.
        return Parsed(crash=exc)


def _ingest_chunk(
    runtime: Runtime,
    receipt_ids: list[int],
    summary: IngestSummary,
    token: str | None,
    parsed: dict[int, Parsed],
) -> None:
    for attempt in range(1, TRANSIENT_TRIES + 1):
        outcome = _ChunkOutcome()
        try:
            with runtime.db.session() as session:
                _ingest_in(runtime, session, receipt_ids, outcome, token, parsed)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning(
                "storage failed transiently while parsing; trying again",
                extra={"receipts": len(receipt_ids), "try": attempt, "detail": _describe(exc)},
            )
            if attempt < TRANSIENT_TRIES:
                time.sleep(TRANSIENT_PAUSE_S * 4 ** (attempt - 1))
                continue
            _hand_back(runtime, receipt_ids, exc, token)
            summary.retried.extend(receipt_ids)
            return
        outcome.publish(summary)
        return


def _hand_back(runtime: Runtime, receipt_ids: list[int], exc: BaseException, token: str | None) -> None:
    """Release the claim so the dispatcher hands the receipts out again; never marks them failed."""
    try:
        with runtime.db.session() as session:
            session.execute(
                update(Receipt)
                .where(
                    Receipt.id.in_(receipt_ids),
                    Receipt.status == "received",
                    # Only our own claim: one that lapsed and went to another job is its.
                    Receipt.claim_token.is_(None) if token is None else Receipt.claim_token == token,
                )
                .values(claimed_at=None, claim_token=None, lease_until=None, updated_at=datetime.now(UTC))
            )
    except Exception as release_error:
        if not is_transient(release_error):
            raise
        # The database is still away: the claim lapses on its own and the receipts are
        # handed out again then. Nothing is lost either way.
        log.warning(
            "cannot release receipts after a storage failure; their claim will lapse",
            extra={"receipts": len(receipt_ids), "detail": _describe(release_error)},
        )
        return
    log.warning(
        "receipts handed back after repeated storage failures",
        extra={"receipts": len(receipt_ids), "detail": _describe(exc)},
    )


def _describe(exc: BaseException) -> str:
    detail = getattr(exc, "orig", None) or exc
    return f"{type(detail).__name__}: {str(detail).splitlines()[0] if str(detail) else ''}"


@dataclass
class _Parsed:
    receipt: Receipt
    source: SourceConfig
    events: list[CallEvent]


@dataclass
class _ChunkOutcome:
    """What a chunk did, published (summary, metrics, logs) only once its transaction committed."""

    parsed: list[_Parsed] = field(default_factory=list)
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
                    "receipt_id": item.receipt.id,
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


def _ingest_in(
    runtime: Runtime,
    session: Session,
    receipt_ids: list[int],
    outcome: _ChunkOutcome,
    token: str | None,
    parsed: dict[int, Parsed],
) -> None:
    """Parse, lock every call the chunk touches in one order, then store each receipt's versions.

    Call rows are locked sorted by call id before any version is written: two workers ingesting
    interleaved versions of the same calls then queue behind each other instead of deadlocking
    (each would otherwise hold one call and wait for the other's).
    """
    receipts = {
        r.id: r
        for r in session.scalars(
            select(Receipt).where(Receipt.id.in_(receipt_ids)).order_by(Receipt.id).with_for_update()
        )
    }
    ready: list[_Parsed] = []
    for receipt_id in receipt_ids:
        receipt = receipts.get(receipt_id)
        # Only receipts still held by this job's claim (None: nobody's); the rows are locked until
        # the commit, so a dispatcher re-claiming one whose lease lapsed waits, then finds it done.
        if receipt is None or receipt.status != "received" or receipt.claim_token != token:
            outcome.skipped.append(receipt_id)
            continue
        receipt.parse_attempts += 1
        receipt.updated_at = datetime.now(UTC)
        receipt.claimed_at = receipt.claim_token = receipt.lease_until = None
        source = runtime.source(receipt.source)
        if source is None:
            _fail(receipt, "unknown_source", f"source {receipt.source!r} is no longer in hub.yaml", outcome)
            continue
        # Not parsed ahead when it became ours meanwhile.
        result = parsed.get(receipt_id) or _normalize(
            runtime, source, request_of(receipt), receipt.receipt_key
        )
        if result.crash is not None:
            _fail(receipt, "ingest_error", f"{type(result.crash).__name__}: {result.crash}", outcome)
            continue
        if result.error is not None:
            _fail(receipt, result.error.reason, result.error.message, outcome)
            continue
        if result.ignored is not None:
            _ignore(receipt, result.ignored, outcome)
            continue
        events = result.events or []
        kept = [event for event in events if not is_forgotten(session, event.caller.number)]
        if events and not kept:
            # A late redelivery of an erased caller's call: nothing of it is kept.
            receipt.status, receipt.body, receipt.headers = "forgotten", b"", {}
            outcome.forgotten.append((source.id, receipt.id))
            continue
        ready.append(_Parsed(receipt, source, kept))
    broken = _lock_calls(session, [event for item in ready for event in item.events])
    writable = []
    for item in ready:
        bad = next((broken[e.id] for e in item.events if e.id in broken), None)
        if bad is not None:
            _fail_with(item.receipt, bad, outcome)
        else:
            writable.append(item)
    try:
        # The whole chunk in one savepoint; only when it fails is each receipt written in its
        # own, to find the one that fails and keep the others.
        with session.begin_nested():
            for item in writable:
                _store(runtime, session, item)
        for item in writable:
            _stored(item, outcome)
        return
    except Exception as exc:
        if is_transient(exc):
            raise
    for item in writable:
        try:
            with session.begin_nested():
                _store(runtime, session, item)
        except Exception as exc:
            if is_transient(exc):
                raise
            # Stored with its cause and replayable, so one bad receipt neither blocks the
            # others of its chunk nor disappears.
            _fail_with(item.receipt, exc, outcome)
            continue
        _stored(item, outcome)


def _store(runtime: Runtime, session: Session, item: _Parsed) -> None:
    for event in item.events:
        store_version(runtime, session, item.source, event, item.receipt.id)


def _stored(item: _Parsed, outcome: _ChunkOutcome) -> None:
    item.receipt.status = "parsed"
    item.receipt.error = item.receipt.error_reason = None
    item.receipt.events_count = len(item.events)
    outcome.parsed.append(item)


def _lock_calls(session: Session, events: list[CallEvent]) -> dict[str, SQLAlchemyError]:
    """Create (if new) and lock the calls of `events`, sorted by call id; returns the events whose
    call could not be stored (a value the database refuses), with the error."""
    first: dict[str, CallEvent] = {}
    members: dict[str, list[str]] = {}
    for event in events:
        key = call_id(event.source, event.provider_call_id)
        first.setdefault(key, event)
        members.setdefault(key, []).append(event.id)
    ordered = sorted(first)
    try:
        # One savepoint for the whole chunk; only when a call cannot be stored is each one
        # tried alone, to find which receipts fail and keep the others.
        with session.begin_nested():
            for key in ordered:
                _lock_call(session, key, first[key])
        return {}
    except SQLAlchemyError as exc:
        if is_transient(exc):
            raise
    broken: dict[str, SQLAlchemyError] = {}
    for key in ordered:
        try:
            with session.begin_nested():
                _lock_call(session, key, first[key])
        except SQLAlchemyError as exc:
            if is_transient(exc):
                raise
            broken.update(dict.fromkeys(members[key], exc))
    return broken


def _lock_call(session: Session, the_call_id: str, event: CallEvent) -> Call:
    # A call that does not exist yet is created by whichever insert comes first (the other
    # waits for it, then finds it) rather than by two racing inserts.
    call = session.get(Call, the_call_id, with_for_update=True)
    if call is not None:
        return call
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
            updated_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing()
    )
    call = session.get(Call, the_call_id, with_for_update=True, populate_existing=True)
    assert call is not None, "the call row exists once inserted"
    return call


def _ignore(receipt: Receipt, exc: NotACall, outcome: _ChunkOutcome) -> None:
    """A delivery that is not a call (a form, a chat, an SMS): kept and shown, never delivered."""
    receipt.status = "ignored"
    receipt.error_reason = exc.reason
    receipt.error = exc.message
    receipt.events_count = 0
    outcome.ignored.append((receipt.source, receipt.id, exc.reason))


def _fail_with(receipt: Receipt, exc: Exception, outcome: _ChunkOutcome) -> None:
    reason = "store_error" if isinstance(exc, SQLAlchemyError) else "ingest_error"
    _fail(receipt, reason, _describe(exc), outcome)


def _fail(receipt: Receipt, reason: str, message: str, outcome: _ChunkOutcome) -> None:
    receipt.status = "failed"
    receipt.error_reason = reason
    receipt.error = message
    outcome.failed.append((receipt.source, receipt.id, reason))


def store_version(
    runtime: Runtime, session: Session, source: SourceConfig, event: CallEvent, receipt_id: int
) -> int:
    """Store one version, refresh the call's merged state, create its deliveries; returns how many."""
    if session.get(Event, event.id) is not None:
        return 0
    now = datetime.now(UTC)
    the_call_id = call_id(event.source, event.provider_call_id)
    # Versions of one call ingested by two workers at once must merge one after the other: the
    # row lock serializes them. Ingest locked it already (in call-id order); this fetches it.
    call = _lock_call(session, the_call_id, event)
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
