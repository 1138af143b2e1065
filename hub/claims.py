"""Claims on stored work: a token per claim, a short lease, and the heartbeat that renews it.

The dispatcher claims receipts and deliveries for one RQ job at a time with a fresh token and
a lease of `Settings.lease_s`. While the job runs, the process's heartbeat thread renews the
lease of the rows that still carry its token; a worker that dies stops renewing, so its claims
lapse within one lease and the dispatcher hands the work out again. Every write of an outcome
names the token (`WHERE claim_token = ?`), so a job whose claim was handed to another can
record nothing.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from types import TracebackType

import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.utils import as_text
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from hub.core.errors import StorageUnavailable
from hub.store.db import Database
from hub.store.models import Delivery, Receipt

log = logging.getLogger("hub.claims")

#: Delivery states a claim covers: `queued` (handed to a job, not sent) and `sending` (a send
#: started under this claim).
CLAIMED = ("queued", "sending")


def new_token() -> str:
    return secrets.token_hex(16)


def ingest_job_id(token: str) -> str:
    return f"ingest-{token}"


def deliver_job_id(token: str) -> str:
    return f"deliver-{token}"


# Renewals skip rows the job's own transaction has locked (PostgreSQL: SKIP LOCKED): those are
# being recorded right now, and waiting for them while holding the others could deadlock with it.


def renew_deliveries(db: Database, token: str, lease_s: float, now: datetime | None = None) -> int:
    """Extend the lease of the deliveries this claim still holds; returns how many."""
    return _renew(db, Delivery, Delivery.status.in_(CLAIMED), token, lease_s, now)


def renew_receipts(db: Database, token: str, lease_s: float, now: datetime | None = None) -> int:
    """Extend the lease of the receipts this claim still holds (not yet parsed); returns how many."""
    return _renew(db, Receipt, Receipt.status == "received", token, lease_s, now)


def _renew(
    db: Database,
    model: type[Delivery] | type[Receipt],
    unfinished: ColumnElement[bool],
    token: str,
    lease_s: float,
    now: datetime | None,
) -> int:
    moment = now or datetime.now(UTC)
    held = select(model.id).where(model.claim_token == token, unfinished).with_for_update(skip_locked=True)
    with db.session() as session:
        result = session.execute(
            update(model)
            .where(model.id.in_(held.scalar_subquery()))
            .values(lease_until=moment + timedelta(seconds=lease_s))
        )
        return int(getattr(result, "rowcount", 0) or 0)


def delivery_claim_alive(db: Database, token: str, now: datetime | None = None) -> bool:
    """Whether claim `token` still holds a delivery under a lease that has not lapsed.

    False once its worker stopped renewing (even before the dispatcher re-drives its work), once
    its work was handed to another claim, and once its outcome was recorded.
    """
    moment = now or datetime.now(UTC)
    with db.read_session() as session:
        held = session.scalar(
            select(Delivery.id)
            .where(
                Delivery.claim_token == token,
                Delivery.status.in_(CLAIMED),
                Delivery.lease_until >= moment,
            )
            .limit(1)
        )
    return held is not None


def waiting_jobs(client: redis.Redis, job_ids: Iterable[str]) -> set[str]:
    """The ids among `job_ids` whose RQ job still waits in its queue (no worker has taken it).

    A claim whose job merely waits for a free worker keeps its work: only a job that is gone
    (Redis lost it) or was taken by a worker that stopped renewing lets its claim lapse. Two
    round trips whatever the number of jobs: their status and queue, then where the queued ones
    stand in their queue (a pass may find many claims lapsed at once, e.g. behind a slow
    database).
    """
    ids = list(job_ids)
    if not ids:
        return set()
    with client.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hmget(Job.key_for(job_id), ["status", "origin"])
        found: list[list[bytes | str | None]] = pipe.execute()
    waiting: set[str] = set()
    queued: list[tuple[str, str]] = []
    for job_id, (status, origin) in zip(ids, found, strict=True):
        if status is None:
            continue  # gone: Redis lost it, or it ended and its record expired
        state = as_text(status)
        if state == JobStatus.QUEUED:
            queued.append((job_id, as_text(origin or "")))
        elif state in (JobStatus.DEFERRED, JobStatus.SCHEDULED):
            waiting.add(job_id)
    if queued:
        with client.pipeline(transaction=False) as pipe:
            for job_id, origin in queued:
                pipe.lpos(Queue(origin, connection=client).key, job_id)
            places: list[int | None] = pipe.execute()
        # A queued job no longer in its queue was taken off it by a worker that died before
        # starting it: RQ still says queued (until its maintenance, minutes later), but nobody
        # will run it.
        waiting.update(job_id for (job_id, _), place in zip(queued, places, strict=True) if place is not None)
    return waiting


class Heartbeat:
    """Calls `renew` every `period_s` while the block runs.

    A renewal that fails (the database busy or down for a moment) is tried again at the next
    beat: the lease is three beats long, so one missed beat loses nothing. The beats of every
    open block in the process come from one thread (`_Beats`): most jobs end long before their
    first beat, and a thread started and joined for each cost more than the job's own claim.
    """

    def __init__(self, renew: Callable[[], object], period_s: float) -> None:
        self.renew = renew
        self.period_s = period_s
        self.beats = 0

    def beat(self) -> None:
        try:
            self.renew()
            self.beats += 1
        except (SQLAlchemyError, StorageUnavailable, redis.RedisError) as exc:
            log.warning("could not renew a claim; trying again", extra={"detail": str(exc)})

    def __enter__(self) -> Heartbeat:
        _BEATS.add(self)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        _BEATS.remove(self)


class _Beats:
    """The thread that beats every open `Heartbeat` of this process when it is due."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        #: Each open heartbeat and when it beats next (monotonic seconds).
        self._due: dict[Heartbeat, float] = {}
        self._beating: Heartbeat | None = None
        self._thread: threading.Thread | None = None

    def add(self, heartbeat: Heartbeat) -> None:
        with self._changed:
            self._due[heartbeat] = time.monotonic() + heartbeat.period_s
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="claim-heartbeats", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def remove(self, heartbeat: Heartbeat) -> None:
        """The heartbeat beats no more. A beat under way is waited for, up to two periods: a
        renewal stuck on a busy database must not hold the job up, and one that lands after the
        job ended extends only claims the job left unfinished, by one lease."""
        deadline = time.monotonic() + max(heartbeat.period_s, 1.0) * 2
        with self._changed:
            self._due.pop(heartbeat, None)
            while self._beating is heartbeat and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)

    def _next(self) -> Heartbeat:
        with self._changed:
            while True:
                if not self._due:
                    self._changed.wait()
                    continue
                heartbeat, due = min(self._due.items(), key=lambda item: item[1])
                wait_s = due - time.monotonic()
                if wait_s <= 0:
                    self._due[heartbeat] = time.monotonic() + heartbeat.period_s
                    self._beating = heartbeat
                    return heartbeat
                self._changed.wait(wait_s)

    def _run(self) -> None:
        while True:
            heartbeat = self._next()
            try:
                heartbeat.beat()
            except Exception:
                # This thread beats for every job of the process: one renewal's bug must not
                # stop the others' (their claims would lapse and their work run twice).
                log.exception("renewing a claim failed")
            finally:
                with self._changed:
                    self._beating = None
                    self._changed.notify_all()


_BEATS = _Beats()


def heartbeat_period(lease_s: float) -> float:
    """Three beats per lease: one or two can be missed before a live worker's work is re-driven."""
    return max(lease_s / 3.0, 0.05)
