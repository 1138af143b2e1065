""" "Retry all N matching": a replay job stored in the database, run by a worker in chunks,
with progress people can watch and a cancel that stops it between chunks."""

from __future__ import annotations

import secrets
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from rq import Queue
from sqlalchemy import func, select, update

from hub.audit import record as record_audit
from hub.dispatch import INGEST_QUEUE, JOB_TIMEOUT_S
from hub.replay import DeliveryFilter, _matching, replay_deliveries
from hub.runtime import Runtime
from hub.store.db import Database
from hub.store.models import ReplayJob

CHUNK = 100


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
        return session.scalar(select(func.count()).select_from(_matching(selection).subquery())) or 0


def start_job(runtime: Runtime, selection: DeliveryFilter, actor: str) -> str:
    """Store the job with the ids it will replay (fixed now: new failures are not swept in) and
    queue it for a worker."""
    now = datetime.now(UTC)
    with runtime.db.read_session() as session:
        ids = list(session.scalars(_matching(selection)))
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
    Queue(INGEST_QUEUE, connection=runtime.redis, default_timeout=JOB_TIMEOUT_S).enqueue(
        "hub.console.jobs.run_replay_job", job_id
    )
    return job_id


def run_job(db: Database, job_id: str) -> str:
    """Replay the job's deliveries chunk by chunk, stopping when cancelled; returns its status."""
    with db.session() as session:
        job = session.get(ReplayJob, job_id)
        if job is None or job.status != "queued":
            return job.status if job else "missing"
        job.status, job.updated_at = "running", datetime.now(UTC)
        selection = selection_from_json(job.selection)
    ids = list(selection.ids)
    for start in range(job_done(db, job_id), len(ids), CHUNK):
        with db.read_session() as session:
            if session.scalar(select(ReplayJob.status).where(ReplayJob.id == job_id)) == "cancelled":
                return "cancelled"
        chunk = tuple(ids[start : start + CHUNK])
        replay_deliveries(db, DeliveryFilter(statuses=selection.statuses, ids=chunk))
        with db.session() as session:
            session.execute(
                update(ReplayJob)
                .where(ReplayJob.id == job_id, ReplayJob.status == "running")
                .values(done=start + len(chunk), updated_at=datetime.now(UTC))
            )
    with db.session() as session:
        session.execute(
            update(ReplayJob)
            .where(ReplayJob.id == job_id, ReplayJob.status == "running")
            .values(status="finished", updated_at=datetime.now(UTC))
        )
    return "finished"


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
    with db.read_session() as session:
        job = session.get(ReplayJob, job_id)
        if job is None:
            return None
        return {
            "id": job.id,
            "status": job.status,
            "total": job.total,
            "done": job.done,
            "created_by": job.created_by,
            "created_at": job.created_at.isoformat(),
        }
