"""Worker side of receipt: parse stored deliveries into call versions and route them.

Idempotent at every step: an event id is derived from the stored delivery, so re-running a
receipt (a replay after a parser fix, a worker that died mid-way) adds nothing twice; one
delivery record exists per (call version x destination).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hub.call_state import MergedCall, call_of, merge_ahead
from hub.config import SourceConfig
from hub.core.errors import NotACall, ParseError
from hub.core.events import CallEvent, dump_event
from hub.erasure import forgotten_numbers
from hub.ingest_outcome import (
    ChunkOutcome,
    IngestSummary,
    ParsedReceipt,
    TakenReceipt,
    describe,
    fail,
    fail_with,
    ignore,
    record_outcomes,
)
from hub.runtime import Runtime
from hub.store.models import RECEIPTS, Receipt
from hub.store.transient import is_transient
from hub.version_store import Version, lock_calls, store_versions
from webhooks.base import Headers, InboundRequest

log = logging.getLogger("hub.ingest")

__all__ = ["Ahead", "IngestSummary", "Parsed", "ingest", "parse_ahead", "request_of"]


@dataclass(frozen=True)
class Parsed:
    """A receipt's versions, or why it has none, worked out before its write transaction."""

    events: list[CallEvent] | None = None
    #: The events as stored (serialized here, outside the write transaction).
    payloads: list[dict[str, Any]] | None = None
    error: ParseError | None = None
    ignored: NotACall | None = None
    crash: Exception | None = None


@dataclass(frozen=True)
class Ahead:
    """A chunk's work done before its write transaction: each receipt's versions, each call's
    merged state (checked under the lock: see hub.call_state)."""

    parsed: dict[int, Parsed]
    merged: dict[str, MergedCall]


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


def parse_ahead(runtime: Runtime, receipt_ids: Sequence[int], token: str | None) -> Ahead:
    """Normalize the receipts this claim holds and merge their calls, reading without any write lock."""
    parsed: dict[int, Parsed] = {}
    with runtime.db.read_session() as session:
        receipts = session.execute(
            select(
                RECEIPTS.c.id,
                RECEIPTS.c.source,
                RECEIPTS.c.receipt_key,
                RECEIPTS.c.method,
                RECEIPTS.c.url,
                RECEIPTS.c.headers,
                RECEIPTS.c.body,
                RECEIPTS.c.received_at,
            )
            .where(
                RECEIPTS.c.id.in_(receipt_ids),
                RECEIPTS.c.status == "received",
                RECEIPTS.c.claim_token == token,
            )
            # In the order the write transaction takes them: a call's versions are then added in
            # the same order ahead as under the lock.
            .order_by(RECEIPTS.c.id)
        ).all()
        requests = [
            (
                r.id,
                r.source,
                r.receipt_key,
                InboundRequest(r.method, r.url, Headers(r.headers), r.body, r.received_at),
            )
            for r in receipts
        ]
    for receipt_id, source_id, key, request in requests:
        source = runtime.source(source_id)
        if source is not None:
            parsed[receipt_id] = _normalize(runtime, source, request, key)
    events = [event for result in parsed.values() for event in result.events or []]
    if not events:
        return Ahead(parsed, {})
    with runtime.db.read_session() as session:
        return Ahead(parsed, merge_ahead(session.connection(), events))


def _normalize(runtime: Runtime, source: SourceConfig, request: InboundRequest, key: str) -> Parsed:
    """One receipt's versions, or why it has none."""
    try:
        events = runtime.provider(source).normalize(request, key)
        return Parsed(events=events, payloads=[dump_event(event) for event in events])
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
    ahead: Ahead,
) -> None:
    for attempt in range(1, TRANSIENT_TRIES + 1):
        outcome = ChunkOutcome()
        try:
            with runtime.db.session() as session:
                _ingest_in(runtime, session, receipt_ids, outcome, token, ahead)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning(
                "storage failed transiently while parsing; trying again",
                extra={"receipts": len(receipt_ids), "try": attempt, "detail": describe(exc)},
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
            extra={"receipts": len(receipt_ids), "detail": describe(release_error)},
        )
        return
    log.warning(
        "receipts handed back after repeated storage failures",
        extra={"receipts": len(receipt_ids), "detail": describe(exc)},
    )


def _ingest_in(
    runtime: Runtime,
    session: Session,
    receipt_ids: list[int],
    outcome: ChunkOutcome,
    token: str | None,
    ahead: Ahead,
) -> None:
    """Lock the chunk's receipts, then every call it touches in one order, then store its versions.

    A fixed number of statements whatever the chunk's size. Call rows are locked sorted by call id
    before any version is written: two workers ingesting interleaved versions of the same calls
    then queue behind each other instead of deadlocking (each would otherwise hold one call and
    wait for the other's).
    """
    rows = session.execute(
        select(
            RECEIPTS.c.id,
            RECEIPTS.c.source,
            RECEIPTS.c.status,
            RECEIPTS.c.claim_token,
            RECEIPTS.c.error_reason,
            RECEIPTS.c.error,
            RECEIPTS.c.events_count,
        )
        .where(RECEIPTS.c.id.in_(receipt_ids))
        .order_by(RECEIPTS.c.id)
        .with_for_update()
    )
    taken: dict[int, TakenReceipt] = {}
    for row in rows:
        # Only receipts still held by this job's claim (None: nobody's); the rows are locked until
        # the commit, so a dispatcher re-claiming one whose lease lapsed waits, then finds it done.
        if row.status == "received" and row.claim_token == token:
            taken[row.id] = TakenReceipt(
                row.id, row.source, row.status, row.error_reason, row.error, row.events_count
            )
    outcome.skipped.extend(receipt_id for receipt_id in receipt_ids if receipt_id not in taken)
    ready = _ready(runtime, session, taken, outcome, ahead.parsed)
    broken = _lock_calls(session, [event for item in ready for event in item.events])
    writable = []
    for item in ready:
        bad = next((broken[e.id] for e in item.events if e.id in broken), None)
        if bad is not None:
            fail_with(taken[item.receipt_id], bad, outcome)
        else:
            writable.append(item)
    for item in _store(runtime, session, writable, taken, outcome, ahead.merged):
        receipt = taken[item.receipt_id]
        receipt.status, receipt.error_reason, receipt.error = "parsed", None, None
        receipt.events_count = len(item.events)
        outcome.parsed.append(item)
    record_outcomes(session, list(taken.values()))


def _ready(
    runtime: Runtime,
    session: Session,
    taken: dict[int, TakenReceipt],
    outcome: ChunkOutcome,
    parsed: dict[int, Parsed],
) -> list[ParsedReceipt]:
    """The receipts with versions to store; the others are given their outcome here."""
    results: dict[int, tuple[SourceConfig, Parsed]] = {}
    for receipt in taken.values():
        source = runtime.source(receipt.source)
        if source is None:
            fail(receipt, "unknown_source", f"source {receipt.source!r} is no longer in hub.yaml", outcome)
            continue
        result = parsed.get(receipt.id)
        if result is None:
            # Not parsed ahead: it became ours meanwhile.
            stored = session.get_one(Receipt, receipt.id)
            result = _normalize(runtime, source, request_of(stored), stored.receipt_key)
        results[receipt.id] = (source, result)
    forgotten = forgotten_numbers(
        session, (e.caller.number for _, result in results.values() for e in result.events or [])
    )
    ready: list[ParsedReceipt] = []
    for receipt_id, (source, result) in results.items():
        receipt = taken[receipt_id]
        if result.crash is not None:
            fail(receipt, "ingest_error", f"{type(result.crash).__name__}: {result.crash}", outcome)
        elif result.error is not None:
            fail(receipt, result.error.reason, result.error.message, outcome)
        elif result.ignored is not None:
            ignore(receipt, result.ignored, outcome)
        else:
            events = result.events or []
            kept = [
                (event, payload)
                for event, payload in zip(events, result.payloads or [], strict=True)
                if event.caller.number not in forgotten
            ]
            if events and not kept:
                # A late redelivery of an erased caller's call: nothing of it is kept.
                receipt.status, receipt.emptied = "forgotten", True
                outcome.forgotten.append((source.id, receipt_id))
            else:
                ready.append(ParsedReceipt(receipt_id, source, [e for e, _ in kept], [p for _, p in kept]))
    return ready


def _store(
    runtime: Runtime,
    session: Session,
    writable: list[ParsedReceipt],
    taken: dict[int, TakenReceipt],
    outcome: ChunkOutcome,
    merged: dict[str, MergedCall],
) -> list[ParsedReceipt]:
    """Store the versions of `writable`; returns the receipts stored (the others are failed)."""
    if not writable:
        return []
    try:
        # The whole chunk in one savepoint; only when it fails is each receipt written in its
        # own, to find the one that fails and keep the others.
        with session.begin_nested():
            store_versions(runtime, session, [v for item in writable for v in _versions(item)], merged)
        return writable
    except Exception as exc:
        if is_transient(exc):
            raise
    stored = []
    for item in writable:
        try:
            with session.begin_nested():
                store_versions(runtime, session, _versions(item), merged)
        except Exception as exc:
            if is_transient(exc):
                raise
            # Stored with its cause and replayable, so one bad receipt neither blocks the
            # others of its chunk nor disappears.
            fail_with(taken[item.receipt_id], exc, outcome)
            continue
        stored.append(item)
    return stored


def _versions(item: ParsedReceipt) -> list[Version]:
    return [
        Version(event, item.receipt_id, item.source, payload)
        for event, payload in zip(item.events, item.payloads, strict=True)
    ]


def _lock_calls(session: Session, events: list[CallEvent]) -> dict[str, SQLAlchemyError]:
    """Create (if new) and lock the calls of `events`, sorted by call id; returns the events whose
    call could not be stored (a value the database refuses), with the error."""
    members: dict[str, list[CallEvent]] = {}
    for event in events:
        members.setdefault(call_of(event), []).append(event)
    if not members:
        return {}
    try:
        # One savepoint for the whole chunk; only when a call cannot be stored is each one
        # tried alone, to find which receipts fail and keep the others.
        with session.begin_nested():
            lock_calls(session, events)
        return {}
    except SQLAlchemyError as exc:
        if is_transient(exc):
            raise
    broken: dict[str, SQLAlchemyError] = {}
    for key in sorted(members):
        try:
            with session.begin_nested():
                lock_calls(session, members[key][:1])
        except SQLAlchemyError as exc:
            if is_transient(exc):
                raise
            broken.update(dict.fromkeys((e.id for e in members[key]), exc))
    return broken
