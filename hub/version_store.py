"""Store call versions in bulk: a fixed number of statements per chunk of receipts, whatever its size.

On SQLite the write lock is held for the whole chunk, so every statement saved there is time other
writers (the webhook receivers, the other workers) do not wait. The statements are Core ones on
the session's connection: no ORM object is loaded, tracked or flushed.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select, update
from sqlalchemy.orm import Session

from hub.call_state import MergedCall, call_of, merge_versions, stored_versions
from hub.config import SourceConfig
from hub.core.events import KIND_COMPLETED, CallEvent, dump_event
from hub.runtime import Runtime
from hub.store.bulk import BulkInsert, BulkWrite
from hub.store.models import CALLS, DELIVERIES, EVENTS


@dataclass(frozen=True)
class Version:
    """One call version to store, with the receipt it was normalized from."""

    event: CallEvent
    receipt_id: int
    source: SourceConfig
    #: `event` serialized, when done already (outside the write transaction).
    payload: dict[str, Any] | None = None


def new_delivery_id() -> str:
    return f"dlv_{secrets.token_hex(12)}"


def lock_calls(session: Session, events: Sequence[CallEvent]) -> None:
    """Create the calls of `events` that do not exist yet, then lock all of them in call-id order.

    Every call is inserted (a conflict does nothing) and then locked, both sorted by call id: an
    insert waits only for a concurrent creator of the same call, a lock only for its holder, and
    in one order, so two workers ingesting versions of the same calls queue behind each other
    instead of deadlocking. SQLite's write lock covers the whole database anyway.
    """
    first: dict[str, CallEvent] = {}
    for event in events:
        first.setdefault(call_of(event), event)
    if not first:
        return
    connection = session.connection()
    now = datetime.now(UTC)
    keys = sorted(first)
    rows = [
        {
            "id": key,
            "source": first[key].source,
            "provider": first[key].provider,
            "provider_call_id": first[key].provider_call_id,
            "kind": first[key].kind,
            "state": {},
            "version_count": 0,
            "first_event_at": first[key].occurred_at,
            "last_event_at": first[key].occurred_at,
            "updated_at": now,
        }
        for key in keys
    ]
    # executemany keeps the rows' order: each call is created after the one before.
    _CREATE.execute(connection, rows)
    connection.execute(select(CALLS.c.id).where(CALLS.c.id.in_(keys)).order_by(CALLS.c.id).with_for_update())


# No conflict target: every unique index is an arbiter. With only the id as arbiter, the
# (source, provider_call_id) index, which a call id is derived from, is checked as a plain
# unique index, and two workers creating the same call at once could fail with a duplicate
# key or deadlock on PostgreSQL instead of one waiting for the other.
_CREATE = BulkInsert(CALLS, skip_conflicts=True)


def store_versions(
    runtime: Runtime,
    session: Session,
    versions: Sequence[Version],
    ahead: Mapping[str, MergedCall] | None = None,
) -> int:
    """Store versions, refresh their calls' merged state, create their deliveries; returns how many.

    Idempotent: a version already stored (or given twice) is left alone. The calls must be locked
    already (`lock_calls`, for the whole chunk, before any version is written). A call's state
    merged `ahead` of the transaction is taken when it merged the versions stored now and the ones
    added here; any other call is merged here.
    """
    if not versions:
        return 0
    connection = session.connection()
    stored, stored_by_call = _stored_ids(connection, versions)
    new: list[Version] = []
    for version in versions:
        if version.event.id not in stored:
            stored.add(version.event.id)
            new.append(version)
    if not new:
        return 0
    now = datetime.now(UTC)
    by_call: dict[str, list[Version]] = {}
    for version in new:
        by_call.setdefault(call_of(version.event), []).append(version)
    keys = sorted(by_call)
    values = _merged(connection, by_call, stored_by_call, ahead or {})
    bounds = {
        key: (first, last)
        for key, first, last in connection.execute(
            select(CALLS.c.id, CALLS.c.first_event_at, CALLS.c.last_event_at).where(CALLS.c.id.in_(keys))
        )
    }
    _EVENT_INSERT.execute(
        connection,
        [
            {
                "id": v.event.id,
                "receipt_id": v.receipt_id,
                "call_id": call_of(v.event),
                "source": v.event.source,
                "kind": v.event.kind,
                "occurred_at": v.event.occurred_at,
                "payload": dump_event(v.event) if v.payload is None else v.payload,
                "created_at": now,
            }
            for v in new
        ],
    )
    _CALL_UPDATE.execute(
        connection, [_call_row(key, values[key], by_call[key], bounds[key], now) for key in keys]
    )
    return _route(runtime, connection, new, keys, now)


def _stored_ids(
    connection: Connection, versions: Sequence[Version]
) -> tuple[set[str], dict[str, frozenset[str]]]:
    """In one read: which of `versions` are stored already (by event id: a replay after a parser
    fix may give a stored event another call), and the ids of every stored version of their calls."""
    given = {v.event.id for v in versions}
    calls = {call_of(v.event) for v in versions}
    stored: set[str] = set()
    by_call: dict[str, set[str]] = {key: set() for key in calls}
    for key, event_id in connection.execute(
        select(EVENTS.c.call_id, EVENTS.c.id).where(
            or_(EVENTS.c.call_id.in_(sorted(calls)), EVENTS.c.id.in_(sorted(given)))
        )
    ):
        if event_id in given:
            stored.add(event_id)
        if key in by_call:
            by_call[key].add(event_id)
    return stored, {key: frozenset(ids) for key, ids in by_call.items()}


def _merged(
    connection: Connection,
    by_call: dict[str, list[Version]],
    stored: dict[str, frozenset[str]],
    ahead: Mapping[str, MergedCall],
) -> dict[str, dict[str, Any]]:
    """Each call's merged values: the ones worked out ahead where they still hold, else merged now."""
    values: dict[str, dict[str, Any]] = {}
    stale: list[str] = []
    for key, added in by_call.items():
        merged = ahead.get(key)
        if merged is not None and merged.holds(stored[key], [v.event.id for v in added]):
            values[key] = merged.values
        else:
            stale.append(key)
    if stale:
        earlier = stored_versions(connection, stale)
        for key in stale:
            values[key] = merge_versions(earlier[key], [v.event for v in by_call[key]])
    return values


_EVENT_INSERT = BulkInsert(EVENTS)

_CALL_UPDATE = BulkWrite(
    update(CALLS)
    .where(CALLS.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        kind=bindparam("b_kind"),
        caller_number=bindparam("b_caller_number"),
        version_count=bindparam("b_version_count"),
        first_event_at=bindparam("b_first_event_at"),
        last_event_at=bindparam("b_last_event_at"),
        updated_at=bindparam("b_updated_at"),
    )
)


def _call_row(
    key: str, values: dict[str, Any], new: list[Version], bounds: tuple[datetime, datetime], now: datetime
) -> dict[str, Any]:
    moments = [v.event.occurred_at for v in new]
    return {
        **values,
        "b_id": key,
        "b_first_event_at": min(bounds[0], *moments),
        "b_last_event_at": max(bounds[1], *moments),
        "b_updated_at": now,
    }


@dataclass
class _Link:
    """One new delivery of a (call, destination) chain, oldest version first."""

    id: str
    event_id: str
    due: datetime


def _route(
    runtime: Runtime, connection: Connection, new: list[Version], keys: list[str], now: datetime
) -> int:
    """One delivery per version x destination; each version not yet sent is folded into the next.

    A version still `pending` is folded into the newer one: the destination receives the call's
    current state once, at the later of their due times (the settle window). Of several versions
    in one chunk, all but the newest are stored folded already; as one after the other would have.
    """
    chains: dict[tuple[str, str], list[_Link]] = {}
    for version in new:
        due = (
            now + timedelta(seconds=version.source.settle_s) if version.event.kind == KIND_COMPLETED else now
        )
        for destination in runtime.config.destinations_for(version.source.id):
            link = _Link(new_delivery_id(), version.event.id, due)
            chains.setdefault((call_of(version.event), destination), []).append(link)
    if not chains:
        return 0
    # Conditional on `pending` and locked (PostgreSQL): one the dispatcher claimed meanwhile is
    # left to its job; one it is claiming now is folded or not once its claim commits or not.
    pending: dict[tuple[str, str], list[tuple[str, datetime]]] = {}
    for delivery_id, key, destination, due_at in connection.execute(
        select(DELIVERIES.c.id, DELIVERIES.c.call_id, DELIVERIES.c.destination, DELIVERIES.c.due_at)
        .where(
            DELIVERIES.c.call_id.in_(keys),
            DELIVERIES.c.destination.in_({destination for _, destination in chains}),
            DELIVERIES.c.status == "pending",
        )
        .order_by(DELIVERIES.c.id)
        .with_for_update()
    ):
        if (key, destination) in chains:
            pending.setdefault((key, destination), []).append((delivery_id, due_at))
    folds: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for (key, destination), chain in chains.items():
        folded = pending.get((key, destination), [])
        folds.extend(
            {"b_id": delivery_id, "b_superseded_by": chain[0].id, "b_message": f"folded into {chain[0].id}"}
            for delivery_id, _ in folded
        )
        latest: datetime | None = max((due_at for _, due_at in folded), default=None)
        for position, link in enumerate(chain):
            due = link.due if latest is None else max(link.due, latest)
            after = chain[position + 1].id if position + 1 < len(chain) else None
            rows.append(_delivery_row(link, key, destination, due, after, now))
            latest = due
    _DELIVERY_INSERT.execute(connection, rows)
    _FOLD.execute(connection, [{**fold, "b_now": now} for fold in folds])
    return len(rows)


_DELIVERY_INSERT = BulkInsert(DELIVERIES)

_FOLD = BulkWrite(
    update(DELIVERIES)
    .where(DELIVERIES.c.id == bindparam("b_id"), DELIVERIES.c.status == "pending")
    .values(
        status="skipped",
        reason="superseded",
        message=bindparam("b_message"),
        superseded_by=bindparam("b_superseded_by"),
        updated_at=bindparam("b_now"),
        finished_at=bindparam("b_now"),
    )
)


def _delivery_row(
    link: _Link, key: str, destination: str, due: datetime, superseded_by: str | None, now: datetime
) -> dict[str, Any]:
    return {
        "id": link.id,
        "call_id": key,
        "event_id": link.event_id,
        "destination": destination,
        "status": "pending" if superseded_by is None else "skipped",
        "reason": None if superseded_by is None else "superseded",
        "message": None if superseded_by is None else f"folded into {superseded_by}",
        "superseded_by": superseded_by,
        "attempts": 0,
        "retry_base": 0,
        "due_at": due,
        "external_ids": {},
        "created_at": now,
        "updated_at": now,
        "finished_at": None if superseded_by is None else now,
    }
