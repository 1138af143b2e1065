"""Worker side of delivery: bring a batch of calls up to date at one destination.

The database decides: only deliveries this job's claim still holds are sent (`queued` ->
`sending` under its token, right before the send), every attempt is recorded with what was sent
and answered, and the outcome sets what happens next (retry with backoff, rejected, failed,
held, skipped or delivered), written only while the claim still holds.

Both writes of a batch cost a few statements whatever its size: inside the write transaction,
one SELECT finds the deliveries the claim still holds in the expected state (locked with
FOR UPDATE on PostgreSQL; SQLite's write transaction, begun IMMEDIATE, already excludes other
writers), then one executemany UPDATE per shape of new values changes exactly those, and one
executemany INSERT stores their attempts.
"""

from __future__ import annotations

import functools
import logging
import random
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from connectors.base import (
    LOCAL_RETRY_REASONS,
    BatchResult,
    Delivered,
    DeliveryError,
    DeliveryItem,
    Held,
    ItemOutcome,
    PermanentError,
    RetryableError,
    Skipped,
)
from hub import metrics
from hub.claims import CLAIMED
from hub.config import DestinationConfig
from hub.core.errors import ConfigError
from hub.core.events import CallEvent, load_event
from hub.core.records import RenderedRecord, Skip
from hub.core.writer_turn import yield_to_writer
from hub.pauses import PAUSING_REASONS, hold_for_credentials
from hub.render import RenderFailed, render_covering
from hub.runtime import Runtime
from hub.store.bulk import BulkInsert, BulkWrite
from hub.store.models import ATTEMPTS, BATCHES, CALLS, DELIVERIES, EVENTS, Delivery

log = logging.getLogger("hub.deliver")


#: Stored history never keeps hashed personal data (a bare SHA-256 of a phone number can be
#: reversed by trying every number); the field's presence is kept so comparisons still see it.
HASHED = "<hashed>"


def history_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: HASHED if name.startswith("user_data.") or "sha256" in name else value
        for name, value in fields.items()
    }


def stored_record(record: RenderedRecord) -> dict[str, Any]:
    return {
        "mapping": record.mapping,
        "target": record.target,
        "fields": history_fields(record.fields),
        "match": list(record.match),
        "options": dict(record.options),
    }


def backoff_seconds(attempt: int, retry_after: float | None, base_s: float, max_s: float) -> float:
    """Exponential backoff with full jitter over the upper half, never sooner than Retry-After."""
    ceiling = min(max_s, base_s * (2 ** max(attempt - 1, 0)))
    delay = random.uniform(ceiling / 2, ceiling)
    return max(delay, retry_after or 0.0)


@dataclass(frozen=True)
class _Claimed:
    """What recording an outcome needs of a delivery, read when the job started."""

    id: str
    call_id: str
    attempts: int
    retry_base: int
    created_at: datetime
    records: list[dict[str, Any]] | None = None
    #: Content hash of the mapping files that rendered `records`.
    mapping_version: str | None = None


def deliver(
    runtime: Runtime, destination_id: str, delivery_ids: Sequence[str], token: str | None = None
) -> dict[str, str]:
    """Send the deliveries among `delivery_ids` this claim (`token`) still holds; returns id -> status.

    Only the holder of the current claim acts: a delivery whose claim lapsed and was handed to
    another job is neither sent nor recorded here. If the job is interrupted (its RQ timeout), the
    deliveries it had not started are handed back at once; those whose send started wait for
    their lease to lapse and count the lost try.
    """
    if token is None:
        # A job queued before claims carried tokens: its deliveries are released when their
        # lease lapses and go out under a new claim.
        return {}
    destination = runtime.config.destinations.get(destination_id)
    if destination is None:
        return _fail_all(
            runtime,
            delivery_ids,
            token,
            "unknown_destination",
            f"destination {destination_id!r} is not in hub.yaml",
        )
    started = datetime.now(UTC)
    try:
        # Rendering a batch is the lane's longest stretch of Python: not while this process writes.
        yield_to_writer()
        items, early, rows = _prepare(runtime, destination, delivery_ids, token)
        result = BatchResult()
        sending: set[str] = set()
        if items:
            try:
                connector = runtime.connector(destination_id)
            except Exception as exc:  # noqa: BLE001
                # Recorded on every delivery (and replayable once fixed), not left to a lease expiry.
                error = PermanentError(
                    f"cannot set up destination {destination_id!r}: {_describe(exc)}", reason="config"
                )
                early.update(dict.fromkeys((item.delivery_id for item in items), error))
            else:
                sending = _start_sending(runtime, token, items, rows)
                live = [item for item in items if item.delivery_id in sending]
                if live:
                    yield_to_writer()
                    clock = time.monotonic()
                    try:
                        # Connector state (record ids it wrote) is stored once for the batch.
                        with runtime.shared_context(destination).batched_state():
                            result = connector.deliver(live)
                    finally:
                        _settle_requests(runtime, destination)
                    metrics.SEND_LATENCY.labels(destination=destination_id).observe(time.monotonic() - clock)
        result.outcomes.update(early)
        return _record(runtime, destination, token, result, started, rows, sending)
    except BaseException:
        _release_unsent(runtime, token)
        raise


def _settle_requests(runtime: Runtime, destination: DestinationConfig) -> None:
    """The connector's requests are all answered: the rate limiter counts them from now."""
    try:
        runtime.shared_context(destination).settle()
    except redis.RedisError as exc:
        # Their slots lapse on their own (hub.coordination.FLIGHT_HOLD_S): later, never sooner.
        log.warning(
            "cannot release rate-limit slots; they lapse on their own",
            extra={"destination": destination.id, "detail": type(exc).__name__},
        )


# What preparing a batch reads, built once (a job prepares a batch every few ms under load).
_QUEUED = select(
    DELIVERIES.c.id,
    DELIVERIES.c.call_id,
    DELIVERIES.c.event_id,
    DELIVERIES.c.attempts,
    DELIVERIES.c.retry_base,
    DELIVERIES.c.created_at,
).where(
    DELIVERIES.c.id.in_(bindparam("ids", expanding=True)),
    DELIVERIES.c.claim_token == bindparam("token"),
    DELIVERIES.c.status == "queued",
)
_CALL_STATES = select(CALLS.c.id, CALLS.c.state).where(CALLS.c.id.in_(bindparam("ids", expanding=True)))
_PAYLOADS = select(EVENTS.c.id, EVENTS.c.payload).where(EVENTS.c.id.in_(bindparam("ids", expanding=True)))
_FOLDED = (
    select(DELIVERIES.c.id, DELIVERIES.c.superseded_by, EVENTS.c.kind)
    .join(EVENTS, EVENTS.c.id == DELIVERIES.c.event_id)
    .where(DELIVERIES.c.superseded_by.in_(bindparam("ids", expanding=True)))
)


def _prepare(
    runtime: Runtime, destination: DestinationConfig, delivery_ids: Sequence[str], token: str
) -> tuple[list[DeliveryItem], dict[str, ItemOutcome], dict[str, _Claimed]]:
    """Read and render what this claim holds, outside any write transaction."""
    items: list[DeliveryItem] = []
    early: dict[str, ItemOutcome] = {}
    claimed: dict[str, _Claimed] = {}
    with runtime.db.read_session() as session:
        rows = session.execute(_QUEUED, {"ids": list(delivery_ids), "token": token}).all()
        calls: dict[str, dict[str, Any]] = {
            call_id: state
            for call_id, state in session.execute(_CALL_STATES, {"ids": sorted({r.call_id for r in rows})})
        }
        versions: dict[str, dict[str, Any]] = {
            event_id: payload
            for event_id, payload in session.execute(_PAYLOADS, {"ids": sorted({r.event_id for r in rows})})
        }
        folded = _folded_kinds(session, [row.id for row in rows])
        loaded = [
            (_Claimed(r.id, r.call_id, r.attempts, r.retry_base, r.created_at), r.call_id, r.event_id)
            for r in rows
        ]
    cache = runtime.mappings  # one version for the whole batch, even if a reload swaps it
    for snapshot, call_id, event_id in loaded:
        claimed[snapshot.id] = snapshot
        state, payload = calls.get(call_id), versions.get(event_id)
        if state is None or payload is None:
            early[snapshot.id] = PermanentError("the call or its version is missing", reason="missing_call")
            continue
        try:
            call, trigger = _load_versions(state, payload)
            kinds = [trigger.kind, *(k for k in folded[snapshot.id] if k != trigger.kind)]
            snapshot = claimed[snapshot.id] = replace(snapshot, mapping_version=cache.version(destination))
            rendered = render_covering(cache.get(destination), call, kinds)
        except RenderFailed as exc:
            early[snapshot.id] = PermanentError(exc.message, reason="mapping")
            continue
        except Exception as exc:  # noqa: BLE001
            # A stored call the code cannot read, or mappings that no longer load: the
            # delivery says so and can be replayed after the fix.
            early[snapshot.id] = PermanentError(_describe(exc), reason="prepare")
            continue
        records = [r for r in rendered if isinstance(r, RenderedRecord)]
        claimed[snapshot.id] = replace(snapshot, records=[stored_record(r) for r in records])
        if rendered and not records:
            reasons = "; ".join(r.reason for r in rendered if isinstance(r, Skip))
            early[snapshot.id] = Skipped("no_mapping_matched", reasons)
            continue
        items.append(
            DeliveryItem(
                delivery_id=snapshot.id,
                call=call,
                trigger=trigger,
                records=records,
                attempt=snapshot.attempts + 1,
                claim=token,
            )
        )
    return items, early, claimed


def _load_versions(state: Mapping[str, Any], payload: Mapping[str, Any]) -> tuple[CallEvent, CallEvent]:
    """The call's state and the version that triggered the delivery, as events."""
    call = load_event(state)
    if {**payload, "id": state.get("id")} == state:
        # The version is the call's whole state but for the id (a first version, or a later one
        # that carried everything): validated once, not twice (validating a stored event costs
        # more than the rest of preparing its delivery).
        return call, replace(call, id=str(payload.get("id") or ""))
    return call, load_event(payload)


def _start_sending(
    runtime: Runtime, token: str, items: Sequence[DeliveryItem], rows: Mapping[str, _Claimed]
) -> set[str]:
    """`queued` -> `sending` under this claim, right before the send; returns the ids that moved.

    A delivery whose claim was handed to another job meanwhile does not move, so the two jobs
    can never both send it.
    """
    now = datetime.now(UTC)
    lease = now + timedelta(seconds=runtime.settings.lease_s)
    with runtime.db.session() as session:
        started = _held(session, token, dict.fromkeys((item.delivery_id for item in items), "queued"))
        _update_held(
            session,
            token,
            [
                (
                    delivery_id,
                    "queued",
                    {
                        "status": "sending",
                        "lease_until": lease,
                        "updated_at": now,
                        "records": rows[delivery_id].records,
                        "mapping_version": rows[delivery_id].mapping_version,
                    },
                )
                for delivery_id in sorted(started)
            ],
        )
    return started


# The fence read and the writes below run inside the write transaction of every delivery job
# (twice per job): built and compiled once, as statements on the table (an ORM statement would
# also be built, and its criteria evaluated against the session, on every run).
_HELD = (
    select(DELIVERIES.c.id, DELIVERIES.c.status)
    .where(
        DELIVERIES.c.id.in_(bindparam("ids", expanding=True)),
        DELIVERIES.c.claim_token == bindparam("token"),
        DELIVERIES.c.status.in_(CLAIMED),
    )
    .order_by(DELIVERIES.c.id)
    .with_for_update()
)
_ATTEMPT_INSERT = BulkInsert(ATTEMPTS)


def _held(session: Session, token: str, expected: Mapping[str, str]) -> set[str]:
    """The ids among `expected` that claim `token` still holds in the state named for each.

    Must run inside the write transaction that then changes them: the rows are locked until it
    ends (FOR UPDATE on PostgreSQL, in id order like every batched write here; on SQLite the
    transaction holds the database's write lock from its BEGIN IMMEDIATE on), so nothing can take
    them between this read and the writes.
    """
    if not expected:
        return set()
    found = session.execute(_HELD, {"ids": sorted(expected), "token": token}).all()
    return {delivery_id for delivery_id, status in found if expected[delivery_id] == status}


@functools.cache
def _held_update(columns: tuple[str, ...]) -> BulkWrite:
    """The fenced UPDATE of these columns, run with one row of parameters per delivery (a job
    writes one of a few sets of columns)."""
    return BulkWrite(
        update(DELIVERIES)
        .where(
            DELIVERIES.c.id == bindparam("k_id"),
            DELIVERIES.c.claim_token == bindparam("k_token"),
            DELIVERIES.c.status == bindparam("k_expected"),
        )
        .values({column: bindparam(f"v_{column}", type_=DELIVERIES.c[column].type) for column in columns})
    )


def _update_held(session: Session, token: str, changes: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
    """Write each (id, expected status, new values): one executemany UPDATE per set of columns.

    Only for rows `_held` returned in this transaction; the WHERE repeats the fence all the same.
    """
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for delivery_id, expected, values in changes:
        params: dict[str, Any] = {"k_id": delivery_id, "k_token": token, "k_expected": expected}
        params.update({f"v_{column}": value for column, value in values.items()})
        shapes.setdefault(tuple(sorted(values)), []).append(params)
    for columns, batch in shapes.items():
        _held_update(columns).execute(session.connection(), batch)


def _release_unsent(runtime: Runtime, token: str) -> None:
    """Hand back at once what this claim holds but never started to send (no attempt spent)."""
    now = datetime.now(UTC)
    with runtime.db.session() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.claim_token == token, Delivery.status == "queued")
            .values(status="pending", claim_token=None, lease_until=None, updated_at=now)
        )


def _folded_kinds(session: Session, delivery_ids: Sequence[str]) -> dict[str, list[str]]:
    """Per delivery, the kinds of the versions folded into it (and into those, transitively)."""
    kinds: dict[str, list[str]] = {delivery_id: [] for delivery_id in delivery_ids}
    root_of = {delivery_id: delivery_id for delivery_id in delivery_ids}
    frontier = list(delivery_ids)
    while frontier:
        rows = session.execute(_FOLDED, {"ids": frontier}).all()
        frontier = []
        for row_id, folded_into, kind in rows:
            root = root_of[str(folded_into)]
            root_of[row_id] = root
            if kind not in kinds[root]:
                kinds[root].append(kind)
            frontier.append(row_id)
    return kinds


def _describe(exc: Exception) -> str:
    return "; ".join(exc.problems) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"


def _record(
    runtime: Runtime,
    destination: DestinationConfig,
    token: str,
    result: BatchResult,
    started: datetime,
    rows: Mapping[str, _Claimed],
    sending: set[str],
) -> dict[str, str]:
    """Store each outcome, but only where this claim still holds the delivery in the state it
    left it in (`sending`, or `queued` for one never sent): a late job records nothing."""
    finished = datetime.now(UTC)
    shared = [asdict(e) for e in result.exchanges if not e.delivery_ids]
    own: dict[str, list[dict[str, Any]]] = {}
    for exchange in result.exchanges:
        for delivery_id in exchange.delivery_ids:
            own.setdefault(delivery_id, []).append(asdict(exchange))
    expected = {
        delivery_id: "sending" if delivery_id in sending else "queued"
        for delivery_id in result.outcomes
        if delivery_id in rows
    }
    statuses: dict[str, str] = {}
    changes: list[tuple[str, str, Mapping[str, Any]]] = []
    attempts: list[dict[str, Any]] = []
    observed: list[tuple[_Claimed, int, str, str | None]] = []
    with runtime.db.session() as session:
        held = _held(session, token, expected)
        for delivery_id, outcome in result.outcomes.items():
            row = rows.get(delivery_id)
            if row is None:
                continue
            local_retry = isinstance(outcome, RetryableError) and outcome.reason in LOCAL_RETRY_REASONS
            if delivery_id not in held:
                if not local_retry:
                    log.warning(
                        "outcome not recorded: the claim was handed to another worker",
                        extra={"destination": destination.id, "delivery_id": delivery_id},
                    )
                continue
            if local_retry:
                assert isinstance(outcome, RetryableError)
                changes.append((delivery_id, expected[delivery_id], _reschedule(outcome, finished)))
                statuses[delivery_id] = "pending"
                continue
            number = row.attempts + 1
            values, reason, message, retry_after = _apply(row, number, outcome, destination, finished)
            if values["status"] == "rejected" and reason in PAUSING_REASONS:
                hold_for_credentials(session, destination.id, values, message or "", finished)
            if expected[delivery_id] == "queued":
                values["records"] = row.records
                values["mapping_version"] = row.mapping_version
            changes.append((delivery_id, expected[delivery_id], values))
            status = str(values["status"])
            attempts.append(
                {
                    "delivery_id": delivery_id,
                    "number": number,
                    "started_at": started,
                    "finished_at": finished,
                    "outcome": status if status != "pending" else "retry",
                    "reason": reason,
                    "message": message,
                    "retry_after_s": retry_after,
                    "exchanges": own.get(delivery_id, []),
                    "mapping_version": row.mapping_version,
                }
            )
            statuses[delivery_id] = status
            observed.append((row, number, status, reason))
        _update_held(session, token, sorted(changes, key=lambda change: change[0]))
        batch_id = None
        if shared and len(attempts) > 1:
            batch_id = f"bat_{secrets.token_hex(12)}"
            session.execute(
                insert(BATCHES).values(
                    id=batch_id,
                    destination=destination.id,
                    size=len(attempts),
                    started_at=started,
                    finished_at=finished,
                    exchanges=shared,
                )
            )
        for attempt in attempts:
            attempt["batch_id"] = batch_id
            if batch_id is None:
                attempt["exchanges"] = list(attempt["exchanges"]) + shared
        _ATTEMPT_INSERT.execute(session.connection(), attempts)
    for row, number, status, reason in observed:
        _observe(destination, row, number, status, reason, finished)
    return statuses


def _reschedule(outcome: RetryableError, now: datetime) -> dict[str, Any]:
    """The hub itself said "not now" (its rate limiter, a lock): try again when it allows, with
    the retry budget untouched and the claim released."""
    delay = max(outcome.retry_after or 0.0, 1.0) * random.uniform(1.0, 1.2)
    return {
        "status": "pending",
        "reason": outcome.reason,
        "message": outcome.message,
        "claim_token": None,
        "lease_until": None,
        "updated_at": now,
        "due_at": now + timedelta(seconds=delay),
    }


def _observe(
    destination: DestinationConfig, row: _Claimed, number: int, status: str, reason: str | None, now: datetime
) -> None:
    outcome = status if status != "pending" else "retry"
    metrics.DELIVERY_OUTCOMES.labels(destination=destination.id, outcome=outcome, reason=reason or "").inc()
    if status == "delivered":
        metrics.DELIVERY_LATENCY.labels(destination=destination.id).observe(
            (now - row.created_at).total_seconds()
        )
    log.info(
        "delivery attempt",
        extra={
            "destination": destination.id,
            "delivery_id": row.id,
            "call_id": row.call_id,
            "attempt": number,
            "mapping_version": row.mapping_version,
            "outcome": status,
            "reason": reason,
        },
    )


def _apply(
    row: _Claimed, number: int, outcome: ItemOutcome, destination: DestinationConfig, now: datetime
) -> tuple[dict[str, Any], str | None, str | None, float | None]:
    """The delivery's new values after attempt `number` ended with `outcome`."""
    values: dict[str, Any] = {
        "attempts": number,
        "updated_at": now,
        "lease_until": None,
        "claim_token": None,
        "finished_at": now,
    }
    retry_after: float | None = None
    tries = number - row.retry_base
    if isinstance(outcome, Delivered):
        values.update(status="delivered", reason=None, message=outcome.note or None)
        values["external_ids"] = dict(outcome.external_ids)
    elif isinstance(outcome, Skipped):
        values.update(status="skipped", reason=outcome.reason, message=outcome.note or None)
    elif isinstance(outcome, Held):
        values.update(status="held", reason=outcome.reason, message=outcome.note or None)
    elif isinstance(outcome, DeliveryError) and outcome.retryable and tries < destination.max_attempts:
        retry_after = outcome.retry_after
        delay = backoff_seconds(tries, retry_after, destination.retry_base_s, destination.retry_max_s)
        values.update(status="pending", reason=outcome.reason, message=outcome.message, finished_at=None)
        values["due_at"] = now + timedelta(seconds=delay)
    elif isinstance(outcome, DeliveryError) and outcome.retryable:
        values.update(
            status="failed",
            reason=outcome.reason,
            message=f"gave up after {tries} attempts: {outcome.message}",
        )
    else:
        assert isinstance(outcome, DeliveryError)
        values.update(status="rejected", reason=outcome.reason, message=outcome.message)
    return values, values["reason"], values["message"], retry_after


def _fail_all(
    runtime: Runtime, delivery_ids: Sequence[str], token: str, reason: str, message: str
) -> dict[str, str]:
    now = datetime.now(UTC)
    with runtime.db.session() as session:
        failed = session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(delivery_ids), Delivery.claim_token == token, Delivery.status == "queued")
            .values(
                status="failed",
                reason=reason,
                message=message,
                updated_at=now,
                finished_at=now,
                lease_until=None,
                claim_token=None,
            )
            .returning(Delivery.id)
        ).all()
    return dict.fromkeys(failed, "failed")
