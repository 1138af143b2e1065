"""The dispatcher: moves stored work into RQ in batches, and re-drives what a dead worker held.

The database is the source of truth; Redis only moves work. One dispatcher is active at a time
(a Redis lock elects it), so any number of worker hosts can run one. Each pass:
1. returns deliveries whose claim lapsed (their worker stopped renewing it, see hub.claims):
   a `queued` one was never sent and goes back to `pending` as it was; a `sending` one counts
   the lost try as an attempt;
2. hands unparsed receipts to `ingest` jobs (up to INGEST_BATCH receipts per job, at most
   INGEST_IN_FLIGHT claimed at once);
3. per destination, hands due deliveries to jobs on that destination's own queue
   (`deliver:<id>`): a full batch at once, a partial one once its oldest call has waited the
   destination's batch window; never more batches in flight than its workers can take, never
   while its rate limit is saturated, never two at once for the same call. One read tells which
   destinations have anything due (an idle pass ends there), and the batches of all
   destinations are claimed in one write transaction.
Between passes, a wake (hub.wake: an ingest job has stored calls) runs step 3 alone at once.
Each job carries a fresh claim token; only the holder of the current token may send or record.
When Redis is unreachable nothing is claimed, so stored work simply waits for it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from redis.exceptions import LockNotOwnedError
from redis.lock import Lock
from rq import Queue, Worker
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from connectors import registry as connector_registry
from hub.claims import CLAIMED, deliver_job_id, ingest_job_id, new_token, waiting_jobs
from hub.config import DestinationConfig, HubConfig
from hub.coordination import THROTTLE_WAIT_S
from hub.prune import prune_if_due
from hub.runtime import Runtime
from hub.store.models import DELIVERIES, RECEIPTS, Attempt, Delivery, DestinationPause, Receipt
from hub.wake import WakeListener

log = logging.getLogger("hub.dispatch")

INGEST_QUEUE = "ingest"
DELIVER_QUEUE_PREFIX = "deliver:"
INGEST_BATCH = 100
#: Receipts claimed and not yet parsed, at most: a backlog stays in the database, not in Redis.
INGEST_IN_FLIGHT = INGEST_BATCH * 20
#: How long a job may run before RQ interrupts it. Claims do not depend on it: they are short
#: and renewed by the job's heartbeat (`Settings.lease_s`).
JOB_TIMEOUT_S = 900
LEADER_KEY = "hub:dispatcher:leader"


@dataclass
class PassSummary:
    receipts: int = 0
    deliveries: int = 0
    released: int = 0
    #: A destination has more due than the pass handed out, held back by its workers' room or by
    #: the read's limit: the next pass follows soon.
    more: bool = False


def deliver_queue_name(destination_id: str) -> str:
    return f"{DELIVER_QUEUE_PREFIX}{destination_id}"


def queue_names(config: HubConfig) -> list[str]:
    """Every queue a worker listens to: ingest, then one per destination."""
    return [INGEST_QUEUE, *(deliver_queue_name(d) for d in config.destinations)]


def ingest_queue(runtime: Runtime) -> Queue:
    return Queue(INGEST_QUEUE, connection=runtime.redis, default_timeout=JOB_TIMEOUT_S)


def deliver_queue(runtime: Runtime, destination_id: str) -> Queue:
    return Queue(deliver_queue_name(destination_id), connection=runtime.redis, default_timeout=JOB_TIMEOUT_S)


class WorkerCounts:
    """Workers listening to each queue, read from Redis at most once per `ttl_s`.

    Workers start and stop rarely; the dispatcher's pass runs four times a second.
    """

    def __init__(self, ttl_s: float = 1.0) -> None:
        self.ttl_s = ttl_s
        self._read: dict[str, tuple[float, int]] = {}

    def count(self, queue: Queue) -> int:
        clock = time.monotonic()
        read = self._read.get(queue.name)
        if read is None or clock - read[0] >= self.ttl_s:
            read = self._read[queue.name] = (clock, Worker.count(queue=queue))
        return read[1]


def dispatch_once(
    runtime: Runtime,
    now: datetime | None = None,
    workers: WorkerCounts | None = None,
    *,
    check_orphans: bool = True,
    check_lapsed: bool = True,
) -> PassSummary:
    """One pass (see the module docstring); `workers` reuses worker counts across passes;
    `check_orphans`: also fail due deliveries whose destination left hub.yaml; `check_lapsed`:
    also return claims whose lease lapsed (step 1, and lapsed receipt claims)."""
    moment = now or datetime.now(UTC)
    released = release_expired(runtime, moment) if check_lapsed else 0
    # Receipts claimed leave no more ready behind them: only the claim cap limits the read, and
    # room under it frees when ingest jobs end, not at the next pass.
    receipts = dispatch_receipts(runtime, moment, check_lapsed=check_lapsed)
    summary = dispatch_deliveries(runtime, moment, workers, check_orphans=check_orphans)
    summary.released, summary.receipts = released, receipts
    return summary


def _token_is(column: Any, token: str | None) -> ColumnElement[bool]:
    return column.is_(None) if token is None else column == token  # type: ignore[no-any-return]


# --- Lapsed delivery claims ----------------------------------------------------------------------


def release_expired(runtime: Runtime, now: datetime) -> int:
    """Return deliveries whose claim lapsed; returns how many went back to `pending` or `failed`.

    A `queued` delivery whose job still waits in its queue keeps its claim (renewed here): it is
    only waiting for a free worker. Otherwise a `queued` one was never sent: back to `pending`
    with its budget untouched. A `sending` one started a send that nobody finished: the lost try
    is an attempt, so a delivery that kills its worker every time ends `failed`, not looping.
    """
    with runtime.db.read_session() as session:
        expired = session.execute(
            select(
                Delivery.id,
                Delivery.status,
                Delivery.claim_token,
                Delivery.attempts,
                Delivery.retry_base,
                Delivery.destination,
            )
            .where(Delivery.status.in_(CLAIMED), Delivery.lease_until < now)
            # Id order, like every batched write of deliveries: no deadlock with a job recording.
            .order_by(Delivery.id)
        ).all()
    if not expired:
        return 0
    tokens = {row.claim_token for row in expired if row.status == "queued" and row.claim_token}
    still_queued = waiting_jobs(runtime.redis, [deliver_job_id(t) for t in tokens])
    waiting = {t for t in tokens if deliver_job_id(t) in still_queued}
    lease = now + timedelta(seconds=runtime.settings.lease_s)
    released = 0
    with runtime.db.session() as session:
        if waiting:
            session.execute(
                update(Delivery)
                .where(Delivery.claim_token.in_(waiting), Delivery.status == "queued")
                .values(lease_until=lease)
            )
        for row in expired:
            if row.status == "queued" and row.claim_token in waiting:
                continue
            claim = and_(
                Delivery.id == row.id,
                _token_is(Delivery.claim_token, row.claim_token),
                Delivery.status == row.status,
                Delivery.lease_until < now,
            )
            if row.status == "queued":
                done = session.execute(
                    update(Delivery)
                    .where(claim)
                    .values(
                        status="pending",
                        claim_token=None,
                        lease_until=None,
                        updated_at=now,
                        reason="lease_expired",
                        message="its worker stopped before sending it; handed out again (no attempt spent)",
                    )
                )
            else:
                done = _lose_try(runtime, session, row, claim, now)
            released += int(getattr(done, "rowcount", 0) or 0)
    if released:
        log.warning("re-driving deliveries whose worker stopped", extra={"count": released})
    return released


def _lose_try(runtime: Runtime, session: Session, row: Any, claim: ColumnElement[bool], now: datetime) -> Any:
    destination = runtime.config.destinations.get(row.destination)
    limit = destination.max_attempts if destination else 1
    number = row.attempts + 1
    if number - row.retry_base >= limit:
        status, finished = "failed", now
        message = f"gave up after {number - row.retry_base} attempts; the last worker stopped mid-send"
    else:
        status, finished = "pending", None
        message = "the worker sending this delivery stopped mid-send; sending it again"
    done = session.execute(
        update(Delivery)
        .where(claim)
        .values(
            status=status,
            reason="lease_expired",
            message=message,
            attempts=number,
            claim_token=None,
            lease_until=None,
            updated_at=now,
            finished_at=finished,
        )
    )
    if getattr(done, "rowcount", 0):
        session.add(
            Attempt(
                delivery_id=row.id,
                number=number,
                started_at=now,
                finished_at=now,
                outcome="retry" if status == "pending" else "failed",
                reason="lease_expired",
                message=message,
                exchanges=[],
            )
        )
    return done


# --- Receipts ----------------------------------------------------------------------------------


def _receipt_free(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    """Unparsed and unclaimed, or claimed under a lease that lapsed before `now`."""
    return and_(
        RECEIPTS.c.status == "received",
        or_(RECEIPTS.c.claim_token.is_(None), RECEIPTS.c.lease_until.is_(None), RECEIPTS.c.lease_until < now),
    )


# Built once, on the table rather than the mapped class: an ORM update would also evaluate its
# criteria against the session's objects (there are none) on each pass.
_CLAIM_RECEIPTS = (
    update(RECEIPTS)
    .where(
        RECEIPTS.c.id.in_(bindparam("ids", expanding=True)),
        _receipt_free(bindparam("now", type_=Receipt.lease_until.type)),
    )
    .values(
        claim_token=bindparam("token", type_=Receipt.claim_token.type),
        lease_until=bindparam("lease", type_=Receipt.lease_until.type),
        claimed_at=bindparam("now", type_=Receipt.claimed_at.type),
    )
    .returning(RECEIPTS.c.id)
)


def dispatch_receipts(
    runtime: Runtime,
    now: datetime,
    *,
    batch: int = INGEST_BATCH,
    cap: int = INGEST_IN_FLIGHT,
    check_lapsed: bool = True,
) -> int:
    """Claim unparsed receipts for ingest jobs of up to `batch`, at most `cap` claimed at once;
    `check_lapsed`: receipts whose claim lapsed are claimed again too (unless their job still
    waits in the queue), otherwise only unclaimed ones are."""
    lease = now + timedelta(seconds=runtime.settings.lease_s)
    # Without the lapsed ones to look for, only unclaimed receipts count: under load a claimed one
    # nearly always waits for its ingest job, and most passes end at the first lookup below.
    claimable = (
        _receipt_free(now)
        if check_lapsed
        else and_(RECEIPTS.c.status == "received", RECEIPTS.c.claim_token.is_(None))
    )
    lapsed: set[str] = set()
    with runtime.db.read_session() as session:
        if session.scalar(select(Receipt.id).where(claimable).limit(1)) is None:
            # Nothing to claim: the usual idle pass ends with this one lookup.
            return 0
        if check_lapsed:
            lapsed = set(
                session.scalars(
                    select(Receipt.claim_token)
                    .where(
                        Receipt.status == "received",
                        Receipt.claim_token.is_not(None),
                        Receipt.lease_until < now,
                    )
                    .distinct()
                )
            )
    still_queued = waiting_jobs(runtime.redis, [ingest_job_id(t) for t in lapsed if t])
    waiting = {t for t in lapsed if t and ingest_job_id(t) in still_queued}
    with runtime.db.read_session() as session:
        in_flight = session.scalar(
            select(func.count())
            .select_from(Receipt)
            .where(Receipt.status == "received", Receipt.claim_token.is_not(None), Receipt.lease_until >= now)
        )
        room = cap - int(in_flight or 0)
        # Room freed by a finished chunk waits for a whole job's worth while the backlog has
        # plenty in flight: a job per chunk would cost a claim, a job and a transaction each.
        room -= room % batch if room < cap else 0
        free = claimable
        if waiting:
            free = and_(free, or_(Receipt.claim_token.is_(None), Receipt.claim_token.not_in(waiting)))
        ids = list(session.scalars(select(Receipt.id).where(free).order_by(Receipt.id).limit(max(room, 0))))
    if not ids and not waiting:
        # Nothing to write: the pass takes no write lock (SQLite has one for every process).
        return 0
    claims: list[tuple[str, list[int]]] = []
    with runtime.db.session() as session:
        if waiting:
            # Their job only waits for a free worker: the claim stands.
            session.execute(
                update(Receipt)
                .where(Receipt.claim_token.in_(waiting), Receipt.status == "received")
                .values(lease_until=lease)
            )
        for start in range(0, len(ids), batch):
            token = new_token()
            # Conditional: a second dispatcher that read the same rows claims none of them.
            claimed = list(
                session.scalars(
                    _CLAIM_RECEIPTS,
                    {"ids": ids[start : start + batch], "token": token, "lease": lease, "now": now},
                )
            )
            if claimed:
                claims.append((token, sorted(claimed)))
    if not claims:
        return 0
    jobs = [
        Queue.prepare_data("hub.jobs.ingest", args=(ids, token), job_id=ingest_job_id(token), result_ttl=0)
        for token, ids in claims
    ]
    try:
        ingest_queue(runtime).enqueue_many(jobs)
    except redis.RedisError:
        with runtime.db.session() as session:
            session.execute(
                update(Receipt)
                .where(Receipt.claim_token.in_([t for t, _ in claims]), Receipt.status == "received")
                .values(claim_token=None, lease_until=None, claimed_at=None)
            )
        raise
    return sum(len(ids) for _, ids in claims)


# --- Deliveries --------------------------------------------------------------------------------


def batch_size(destination: DestinationConfig) -> int:
    return int(connector_registry.connector_class(destination.type).max_batch)


def batch_window_s(destination: DestinationConfig) -> float:
    """How long a due call may wait for a fuller batch at this destination."""
    if destination.batch_window_s is not None:
        return destination.batch_window_s
    return float(connector_registry.connector_class(destination.type).batch_window_s)


def in_flight_batches(
    runtime: Runtime, destination: DestinationConfig, workers: WorkerCounts | None = None
) -> int:
    """Batches that may be queued or sending at once: one per worker listening, plus one waiting.

    More would only wait in Redis while the ones ahead are sent; fewer would leave workers idle.
    """
    if destination.max_in_flight is not None:
        return destination.max_in_flight
    queue = deliver_queue(runtime, destination.id)
    listening = workers.count(queue) if workers is not None else Worker.count(queue=queue)
    return max(listening, 1) + 1


@dataclass(frozen=True)
class _Backlog:
    """Per destination: whether it has a batch to plan now, is paused, and how many deliveries it
    has in flight."""

    ready: frozenset[str]
    paused: frozenset[str]
    in_flight: Mapping[str, int]
    orphaned: bool


_UNKNOWN = "?unknown"


@dataclass(frozen=True)
class _Shape:
    """What the backlog query asks of a destination: a batch window makes it ask how old its
    oldest due call is and whether a full batch is due, rather than only whether anything is."""

    id: str
    #: Its batch size when it has a batch window; None without one (anything due is ready).
    windowed_size: int | None


@functools.lru_cache(maxsize=16)
def _backlog_query(shapes: tuple[_Shape, ...], with_orphans: bool) -> Select[Any]:
    """One statement answering, for every destination, what the pass needs to know about it.

    Built once per set of destinations (the pass runs four times a second); `now` is bound at
    each run. Each lookup reads the head of its destination's index (destination, status,
    due_at): an EXISTS stops at the first due row, the oldest pending row is the first one, and
    the count of due rows stops at a full batch. Whether anything is due for a destination no
    longer configured cannot use that index (it reads every due row of the others), so it is
    asked only `with_orphans`.
    """
    now = bindparam("now", type_=Delivery.due_at.type)
    columns: list[Any] = []
    for position, shape in enumerate(shapes):
        mine = Delivery.destination == shape.id
        pending = [mine, Delivery.status == "pending"]
        if shape.windowed_size is None:
            columns.append(exists().where(*pending, Delivery.due_at <= now).label(f"due_{position}"))
        else:
            columns += [
                select(func.min(Delivery.due_at))
                .where(*pending)
                .scalar_subquery()
                .label(f"oldest_{position}"),
                select(func.count())
                .select_from(
                    select(Delivery.id)
                    .where(*pending, Delivery.due_at <= now)
                    .limit(shape.windowed_size)
                    .subquery()
                )
                .scalar_subquery()
                .label(f"due_count_{position}"),
            ]
        columns += [
            exists().where(DestinationPause.destination == shape.id).label(f"paused_{position}"),
            select(func.count())
            .select_from(Delivery)
            .where(mine, Delivery.status.in_(CLAIMED))
            .scalar_subquery()
            .label(f"in_flight_{position}"),
        ]
    if with_orphans:
        orphaned = [Delivery.status == "pending", Delivery.due_at <= now]
        if shapes:
            orphaned.append(Delivery.destination.not_in([shape.id for shape in shapes]))
        columns.append(exists().where(*orphaned).label(_UNKNOWN))
    return select(*columns)


def _shape(destination: DestinationConfig) -> _Shape:
    return _Shape(destination.id, batch_size(destination) if batch_window_s(destination) > 0 else None)


def _backlog(runtime: Runtime, now: datetime, with_orphans: bool) -> _Backlog:
    destinations = list(runtime.config.destinations.values())
    shapes = tuple(_shape(destination) for destination in destinations)
    with runtime.db.read_session() as session:
        row = session.execute(_backlog_query(shapes, with_orphans), {"now": now}).one()
    flags = row._mapping
    ready: set[str] = set()
    for position, (destination, shape) in enumerate(zip(destinations, shapes, strict=True)):
        if shape.windowed_size is None:
            if flags[f"due_{position}"]:
                ready.add(shape.id)
            continue
        oldest: datetime | None = flags[f"oldest_{position}"]
        if oldest is None or oldest > now:
            continue
        # Neither a full batch due nor its oldest call's window over: `_plan` would hold them all
        # back (`choose_batches`), so it is not asked (under steady load, most passes).
        full = int(flags[f"due_count_{position}"] or 0) >= shape.windowed_size
        if full or oldest <= now - timedelta(seconds=batch_window_s(destination)):
            ready.add(shape.id)
    return _Backlog(
        ready=frozenset(ready),
        paused=frozenset(d.id for i, d in enumerate(destinations) if flags[f"paused_{i}"]),
        in_flight={d.id: int(flags[f"in_flight_{i}"] or 0) for i, d in enumerate(destinations)},
        orphaned=with_orphans and bool(flags[_UNKNOWN]),
    )


def dispatch_deliveries(
    runtime: Runtime, now: datetime, workers: WorkerCounts | None = None, *, check_orphans: bool = True
) -> PassSummary:
    """Hand due deliveries to their destinations' queues (step 3): how many went out, and whether
    a destination has more due than went out (`more`)."""
    # One read tells which destinations have a batch to plan: an idle pass ends there.
    backlog = _backlog(runtime, now, check_orphans)
    if backlog.orphaned:
        _fail_unknown_destinations(runtime, now)
    # Paused destinations (from the console, or by themselves when their credentials were
    # refused): their deliveries stay pending, unclaimed, until they are resumed.
    plans: list[tuple[str, list[list[str]]]] = []
    more = False
    for destination in runtime.config.destinations.values():
        if destination.id in backlog.ready and destination.id not in backlog.paused:
            plan = _plan(runtime, destination, now, backlog.in_flight[destination.id], workers)
            more = more or plan.more
            if plan.batches:
                plans.append((destination.id, plan.batches))
    if not plans:
        return PassSummary(more=more)
    claims = _claim(runtime, plans, now)
    handed = 0
    for position, (destination_id, claimed) in enumerate(claims):
        jobs = [
            Queue.prepare_data(
                "hub.jobs.deliver",
                args=(destination_id, ids, token),
                job_id=deliver_job_id(token),
                result_ttl=0,
            )
            for token, ids in claimed
        ]
        try:
            deliver_queue(runtime, destination_id).enqueue_many(jobs)
        except redis.RedisError:
            # This destination's jobs and the ones not enqueued yet: claimed for nothing.
            unsent = [token for _, rest in claims[position:] for token, _ in rest]
            with runtime.db.session() as session:
                session.execute(
                    update(Delivery)
                    .where(Delivery.claim_token.in_(unsent), Delivery.status == "queued")
                    .values(status="pending", claim_token=None, lease_until=None)
                )
            raise
        handed += sum(len(ids) for _, ids in claimed)
    return PassSummary(deliveries=handed, more=more)


def _fail_unknown_destinations(runtime: Runtime, now: datetime) -> None:
    known = list(runtime.config.destinations)
    orphaned = and_(Delivery.status == "pending", Delivery.due_at <= now, Delivery.destination.not_in(known))
    with runtime.db.session() as session:
        session.execute(
            update(Delivery)
            .where(orphaned)
            .values(
                status="failed",
                reason="unknown_destination",
                message="its destination is no longer in hub.yaml",
                updated_at=now,
                finished_at=now,
            )
        )


_BUSY = DELIVERIES.alias("busy")
# The dispatcher asks these of every destination several times a second: the statements are
# built once (building one costs more CPU than SQLite spends answering it).
_DUE = (
    select(DELIVERIES.c.id, DELIVERIES.c.call_id, DELIVERIES.c.due_at)
    .where(
        DELIVERIES.c.destination == bindparam("destination"),
        DELIVERIES.c.status == "pending",
        DELIVERIES.c.due_at <= bindparam("now", type_=Delivery.due_at.type),
        ~exists().where(
            and_(
                _BUSY.c.call_id == DELIVERIES.c.call_id,
                _BUSY.c.destination == DELIVERIES.c.destination,
                _BUSY.c.status.in_(CLAIMED),
            )
        ),
    )
    .order_by(DELIVERIES.c.due_at, DELIVERIES.c.id)
    .limit(bindparam("limit", type_=Integer))
)


def _due(
    session: Session, destination_id: str, now: datetime, limit: int
) -> tuple[list[tuple[str, datetime]], bool]:
    """Due deliveries, oldest first, one per call, none whose call is in flight here already;
    and whether `limit` cut the read (more may be due)."""
    rows = session.execute(_DUE, {"destination": destination_id, "now": now, "limit": limit}).all()
    seen: set[str] = set()
    picked: list[tuple[str, datetime]] = []
    for delivery_id, call, due_at in rows:
        # One call's versions go out one at a time, oldest first.
        if call not in seen:
            seen.add(call)
            picked.append((delivery_id, due_at))
    return picked, len(rows) >= limit


def choose_batches(
    due: Sequence[tuple[str, datetime]], size: int, window_s: float, room: int, now: datetime
) -> list[list[str]]:
    """The batches to send now: full ones at once, a partial one once its oldest call has waited
    `window_s` since it became due; at most `room` deliveries in all."""
    ids = [delivery_id for delivery_id, _ in due][: max(room, 0)]
    if not ids:
        return []
    if window_s > 0 and due[0][1] > now - timedelta(seconds=window_s):
        ids = ids[: len(ids) // size * size]
    return [ids[i : i + size] for i in range(0, len(ids), size)]


@dataclass(frozen=True)
class _Plan:
    batches: list[list[str]]
    #: More is due than went out, held back by the workers' room or by the read's limit.
    more: bool = False


def _plan(
    runtime: Runtime,
    destination: DestinationConfig,
    now: datetime,
    in_flight: int,
    workers: WorkerCounts | None,
) -> _Plan:
    """The batches of due deliveries to hand to `destination`'s workers now (none: they wait)."""
    size = batch_size(destination)
    room = in_flight_batches(runtime, destination, workers) * size - in_flight
    if room <= 0:
        # Its workers have all they can take: what is due waits, pending, without being read,
        # for the next pass, which comes soon to hand it out as room frees.
        return _Plan([], more=True)
    with runtime.db.read_session() as session:
        due, cut = _due(session, destination.id, now, limit=size * 4)
    if not due:
        return _Plan([])
    batches = choose_batches(due, size, batch_window_s(destination), room, now)
    if not batches or runtime.shared_context(destination).wait_s() > THROTTLE_WAIT_S:
        # Saturated: sending now would only be throttled; the calls wait, pending, for the quota.
        # A slot freeing within the wait a worker takes itself is waited for there: held back
        # here, the batch would leave only at the next pass after the slot frees, then wait for a
        # claim, the queue and a free lane while the quota goes unused.
        return _Plan([])
    handed = sum(len(batch) for batch in batches)
    # More is ready than went out: the workers' room or the read's limit cut it short (not the
    # batch window, which holds a partial batch back on purpose).
    return _Plan(batches, more=len(due) > room or (cut and handed == len(due)))


# On the table, like the receipts' claim (no ORM evaluation of the criteria on each pass).
_CLAIM_DELIVERIES = (
    update(DELIVERIES)
    .where(DELIVERIES.c.id.in_(bindparam("ids", expanding=True)), DELIVERIES.c.status == "pending")
    .values(
        status="queued",
        claim_token=bindparam("token", type_=Delivery.claim_token.type),
        lease_until=bindparam("lease", type_=Delivery.lease_until.type),
        updated_at=bindparam("now", type_=Delivery.updated_at.type),
    )
    .returning(DELIVERIES.c.id)
)


def _claim(
    runtime: Runtime, plans: Sequence[tuple[str, list[list[str]]]], now: datetime
) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """Claim every planned batch, each under a fresh token, in one write transaction for the
    whole pass; per destination, the (token, ids) claimed, in their planned order."""
    lease = now + timedelta(seconds=runtime.settings.lease_s)
    claims: list[tuple[str, list[tuple[str, list[str]]]]] = []
    with runtime.db.session() as session:
        for destination_id, batches in plans:
            claimed_here: list[tuple[str, list[str]]] = []
            for batch in batches:
                token = new_token()
                # Conditional: a second dispatcher that read the same rows claims none of them.
                claimed = list(
                    session.scalars(
                        _CLAIM_DELIVERIES, {"ids": batch, "token": token, "lease": lease, "now": now}
                    )
                )
                if claimed:
                    order = {delivery_id: i for i, delivery_id in enumerate(batch)}
                    claimed_here.append((token, sorted(claimed, key=order.__getitem__)))
            if claimed_here:
                claims.append((destination_id, claimed_here))
    return claims


#: The leader lock outlives its holder's last renewal by this much: a dispatcher that dies hands
#: leadership over within it.
LEADER_TTL_S = 15.0
#: How often the leader renews its lock: well within its TTL, but not on each pass (four a
#: second, more while busy), which would cost two Redis round trips every time.
LEADER_RENEW_S = 3.0
#: How often the leader asks Redis whether today's retention pruning is due.
PRUNE_CHECK_S = 60.0
#: How often the leader looks for due deliveries whose destination left hub.yaml (they fail
#: `unknown_destination`): a rare event, and the one question of a pass no index answers.
ORPHAN_CHECK_S = 60.0
#: How often the leader looks for lapsed claims (step 1, and receipts): a claim lapses only
#: `lease_s` after its worker stopped renewing it, so seconds of delay cost nothing, while the
#: lookups cost a few ms of CPU on every pass.
LAPSE_CHECK_S = 1.0
#: A woken pass starts no sooner than this after the previous pass started: under load every
#: ingest job wakes the dispatcher, and a pass costs a few ms of CPU. A pass that left due
#: deliveries behind is followed this soon too: room frees as the destination's jobs end, which
#: wake nobody.
MIN_PASS_GAP_S = 0.05
#: A dispatcher waiting for its next pass notices `stop` within this.
STOP_CHECK_S = 0.5


class Dispatcher:
    """Runs `dispatch_once` every `interval_s` while it holds leadership; when woken meanwhile
    (hub.wake: an ingest job stored calls), hands out due deliveries at once."""

    def __init__(self, runtime: Runtime, interval_s: float = 0.25) -> None:
        self.runtime = runtime
        self.interval_s = interval_s
        self.stopping = threading.Event()
        self.failures = 0
        self.next_alerts = 0.0
        self.next_prune = 0.0
        self.next_orphan_check = 0.0
        self.next_lapse_check = 0.0
        self.workers = WorkerCounts()
        self.wakes = WakeListener(runtime.redis)

    def run(self) -> None:
        lock = self.runtime.redis.lock(LEADER_KEY, timeout=LEADER_TTL_S, blocking=False)
        renewed: float | None = None
        next_full = 0.0
        while not self.stopping.is_set():
            started = time.monotonic()
            full = started >= next_full
            busy = False
            try:
                renewed = self.lead(lock, renewed)
                if renewed is not None:
                    if full:
                        busy = self.full_pass()
                    else:
                        self.woken_pass()
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
            if full:
                # A pass that left due deliveries behind (a backlog larger than the workers'
                # room) is followed soon, to hand them out as room frees. One that handed out
                # all there was is not: under steady load the next one would find a receipt or
                # two, each then costing its own claim, jobs and transactions; waiting one
                # interval gathers them into one batch (measured: a tenth less worker CPU per
                # call at 20 calls/s, and no slower deliveries).
                next_full = started + (MIN_PASS_GAP_S if busy else self.interval_s)
            if renewed is None:
                # Another process leads: only the leader listens for wakes.
                self.wakes.close()
                self.stopping.wait(self.interval_s)
            elif self.woken_before(next_full):
                self.stopping.wait(max(started + MIN_PASS_GAP_S - time.monotonic(), 0.0))
        self.wakes.close()
        with contextlib.suppress(redis.RedisError):
            if lock.owned():
                lock.release()

    def woken_before(self, moment: float) -> bool:
        """Wait until `moment` (monotonic); True when woken first. Stopping ends the wait too."""
        while not self.stopping.is_set():
            left = moment - time.monotonic()
            if left <= 0:
                return False
            # In slices, so that `stop` is noticed soon whatever the interval.
            if self.wakes.wait(min(left, STOP_CHECK_S)):
                return True
        return False

    def full_pass(self) -> bool:
        """`dispatch_once`, alerts and pruning when due; True when it left due deliveries behind."""
        clock = time.monotonic()
        check_orphans = clock >= self.next_orphan_check
        check_lapsed = clock >= self.next_lapse_check
        summary = dispatch_once(
            self.runtime, workers=self.workers, check_orphans=check_orphans, check_lapsed=check_lapsed
        )
        if check_orphans:
            self.next_orphan_check = time.monotonic() + ORPHAN_CHECK_S
        if check_lapsed:
            # A short lease (HUB_LEASE_S, from 1 s) is looked after within a quarter of it.
            self.next_lapse_check = time.monotonic() + min(LAPSE_CHECK_S, self.runtime.settings.lease_s / 4)
        self.check_alerts()
        if time.monotonic() >= self.next_prune:
            self.next_prune = time.monotonic() + PRUNE_CHECK_S
            prune_if_due(self.runtime.db, self.runtime.config.retention, self.runtime.redis)
        return summary.more

    def woken_pass(self) -> None:
        """Deliveries only: a wake says calls were parsed. Receipts wait for the next full pass,
        so that they reach ingest in batches: claimed as each arrives, every receipt would cost
        its own claim, job and write transaction."""
        dispatch_deliveries(self.runtime, datetime.now(UTC), self.workers, check_orphans=False)

    @staticmethod
    def lead(lock: Lock, renewed: float | None) -> float | None:
        """When this process leads, the moment (monotonic) its lock was last taken or renewed;
        None while another one does. A leader renews every `LEADER_RENEW_S` and steps down when
        its lock lapsed meanwhile (another may hold it: two passes at once claim nothing twice)."""
        clock = time.monotonic()
        if renewed is None:
            # Held already: this process led before Redis went away for a moment.
            return clock if lock.owned() or lock.acquire(blocking=False) else None
        if clock - renewed < LEADER_RENEW_S:
            return renewed
        try:
            lock.extend(LEADER_TTL_S, replace_ttl=True)
        except LockNotOwnedError:
            return None
        return clock

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
