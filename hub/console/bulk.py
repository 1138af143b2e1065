""" "Retry all N matching": a replay job stored in the database, run by a worker in chunks,
with progress people can watch and a cancel that stops it between chunks.

A job's `updated_at` is its heartbeat: the worker moves it on with every chunk. A job whose
worker died (killed, out of memory, its RQ job lost) stops beating and is shown `stalled`; a
person resumes it, and it goes on from the last chunk recorded. Progress is recorded only from
where the runner started its chunk, so a runner presumed dead that wakes up stops at its next
chunk instead of running beside the one that resumed the job.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from rq import Queue
from sqlalchemy import func, select, update

from hub.audit import record as record_audit
from hub.dispatch import INGEST_QUEUE, JOB_TIMEOUT_S
from hub.replay import DeliveryFilter, matching_ids, replay_deliveries
from hub.runtime import Runtime
from hub.store.db import Database
from hub.store.models import ReplayJob

CHUNK = 100
#: A running job that has not recorded a chunk for this long has lost its worker (a chunk of
#: CHUNK replays takes well under a second; RQ interrupts a job after JOB_TIMEOUT_S).
RUNNING_STALE_AFTER = timedelta(minutes=5)
#: A queued job no worker picked up for this long was lost with its RQ job (Redis emptied).
QUEUED_STALE_AFTER = timedelta(hours=1)


def selection_to_json(selection: DeliveryFilter) -> dict[str, Any]:
    data = asdict(selection)
    for key in ("since", "until"):
        data[key] = data[key].isoformat() if data[key] else None
    data["statuses"], data["ids"] = list(selection.statuses), list(selection.ids)
    return data


def selection_from_json(data: dict[str, Any]) -> DeliveryFilter:
    return DeliveryFilter(
        statuses=tuple(data.get("statuses") or ()),
        destination=data.get("destination"),
        reason=data.get("reason"),
        since=datetime.fromisoformat(data["since"]) if data.get("since") else None,
        until=datetime.fromisoformat(data["until"]) if data.get("until") else None,
        ids=tuple(data.get("ids") or ()),
    )


def count_matching(db: Database, selection: DeliveryFilter) -> int:
    """How many deliveries a replay of `selection` would send again (raises ReplayRefused)."""
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(matching_ids(selection).subquery())) or 0


def start_job(runtime: Runtime, selection: DeliveryFilter, actor: str) -> str:
    """Store the job with the ids it will replay (fixed now: new failures are not swept in) and
    queue it for a worker."""
    now = datetime.now(UTC)
    with runtime.db.read_session() as session:
        ids = list(session.scalars(matching_ids(selection)))
    frozen = DeliveryFilter(statuses=selection.statuses, ids=tuple(ids))
    job_id = f"rpl_{secrets.token_hex(10)}"
    with runtime.db.session() as session:
        session.add(
            ReplayJob(
                id=job_id,
                created_by=actor,
                selection=selection_to_json(frozen) | {"described": selection_to_json(selection)},
                total=len(ids),
                done=0,
                status="queued",
                created_at=now,
                updated_at=now,
            )
        )
        detail = {"count": len(ids), "filter": selection_to_json(selection)}
        record_audit(session, actor, "replay", detail, target=job_id, at=now)
    _enqueue(runtime, job_id)
    return job_id


def _enqueue(runtime: Runtime, job_id: str) -> None:
    Queue(INGEST_QUEUE, connection=runtime.redis, default_timeout=JOB_TIMEOUT_S).enqueue(
        "hub.console.jobs.run_replay_job", job_id
    )


def run_job(db: Database, job_id: str) -> str:
    """Replay the job's deliveries chunk by chunk, stopping when cancelled; returns its status."""
    with db.session() as session:
        # Only one runner starts a queued job, however many copies of its RQ job exist.
        started = session.scalars(
            update(ReplayJob)
            .where(ReplayJob.id == job_id, ReplayJob.status == "queued")
            .values(status="running", updated_at=datetime.now(UTC))
            .returning(ReplayJob.selection)
        ).first()
        if started is None:
            return session.scalar(select(ReplayJob.status).where(ReplayJob.id == job_id)) or "missing"
        selection = selection_from_json(started)
    ids = list(selection.ids)
    for start in range(job_done(db, job_id), len(ids), CHUNK):
        with db.read_session() as session:
            status = session.scalar(select(ReplayJob.status).where(ReplayJob.id == job_id))
        if status != "running":
            return status or "missing"
        chunk = tuple(ids[start : start + CHUNK])
        replay_deliveries(db, DeliveryFilter(statuses=selection.statuses, ids=chunk))
        with db.session() as session:
            recorded = session.scalars(
                update(ReplayJob)
                .where(ReplayJob.id == job_id, ReplayJob.status == "running", ReplayJob.done == start)
                .values(done=start + len(chunk), updated_at=datetime.now(UTC))
                .returning(ReplayJob.id)
            ).first()
        if recorded is None:
            # Cancelled, or resumed by a person while this runner was presumed dead.
            return "superseded"
    with db.session() as session:
        session.execute(
            update(ReplayJob)
            .where(ReplayJob.id == job_id, ReplayJob.status == "running", ReplayJob.done == len(ids))
            .values(status="finished", updated_at=datetime.now(UTC))
        )
    return "finished"


def stalled(job: ReplayJob, now: datetime | None = None) -> bool:
    """The job's worker is gone: running without a heartbeat, or queued and never picked up."""
    quiet = (now or datetime.now(UTC)) - job.updated_at
    if job.status == "running":
        return quiet > RUNNING_STALE_AFTER
    return job.status == "queued" and quiet > QUEUED_STALE_AFTER


def resume_job(runtime: Runtime, job_id: str, actor: str) -> bool:
    """Queue a stalled job again, to go on from its last recorded chunk; False unless stalled."""
    now = datetime.now(UTC)
    with runtime.db.session() as session:
        job = session.get(ReplayJob, job_id, with_for_update=True)
        if job is None or not stalled(job, now):
            return False
        job.status, job.updated_at = "queued", now
        record_audit(
            session, actor, "replay_resumed", {"done": job.done, "total": job.total}, target=job_id, at=now
        )
    _enqueue(runtime, job_id)
    return True


def job_done(db: Database, job_id: str) -> int:
    with db.read_session() as session:
        return session.scalar(select(ReplayJob.done).where(ReplayJob.id == job_id)) or 0


def cancel_job(db: Database, job_id: str, actor: str) -> bool:
    now = datetime.now(UTC)
    with db.session() as session:
        changed = session.scalars(
            update(ReplayJob)
            .where(ReplayJob.id == job_id, ReplayJob.status.in_(("queued", "running")))
            .values(status="cancelled", updated_at=now)
            .returning(ReplayJob.id)
        ).first()
        if changed:
            record_audit(session, actor, "replay_cancelled", {}, target=job_id, at=now)
    return bool(changed)


def job_progress(db: Database, job_id: str) -> dict[str, Any] | None:
    """The job as people see it: `stalled` (and `resumable`) once its worker is gone."""
    with db.read_session() as session:
        job = session.get(ReplayJob, job_id)
        if job is None:
            return None
        lost = stalled(job)
        return {
            "id": job.id,
            "status": "stalled" if lost else job.status,
            "resumable": lost,
            "total": job.total,
            "done": job.done,
            "created_by": job.created_by,
            "created_at": job.created_at.isoformat(),
            "updated_at": job.updated_at.isoformat(),
        }
