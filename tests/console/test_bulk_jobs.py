"""A bulk replay whose worker died is shown stalled and resumes from its last recorded chunk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from hub.console.bulk import job_progress, run_job
from hub.store.models import AuditEntry, Delivery, ReplayJob
from tests.console.consolekit import add_user, csrf, login, post
from tests.hubkit import Hub

ANSWERED = "callrail/post_call_answered_web_session.json"
MISSED = "callrail/post_call_missed.json"


def _statuses(hub: Hub) -> list[str]:
    with hub.runtime.db.read_session() as session:
        return list(session.scalars(select(Delivery.status).order_by(Delivery.created_at)))


def _started_job(hub: Hub) -> str:
    add_user(hub)
    login(hub.client)
    hub.fault(400, count=2)
    hub.post_fixture("callrail", ANSWERED, recent=True)
    hub.post_fixture("callrail", MISSED, recent=True)
    hub.drain()
    assert _statuses(hub) == ["rejected", "rejected"]
    token = csrf(hub.client, "/console/deliveries/retry")
    started = hub.client.post("/console/deliveries/retry", data={"csrf_token": token, "expected": "2"})
    return str(started.headers["Location"].rsplit("/", 1)[1])


def _set_job(hub: Hub, job_id: str, **values: object) -> None:
    with hub.runtime.db.session() as session:
        session.execute(update(ReplayJob).where(ReplayJob.id == job_id).values(**values))


def test_a_job_whose_worker_died_is_shown_stalled_and_resumes_to_the_end(hub: Hub) -> None:
    job_id = _started_job(hub)
    # A worker took the job and died before recording its first chunk.
    _set_job(hub, job_id, status="running", updated_at=datetime.now(UTC) - timedelta(minutes=20))
    hub.drain()  # the job's own RQ entry went with that worker: it finds the job taken
    progress = hub.client.get(f"/console/data/jobs/{job_id}").json
    assert (progress["status"], progress["resumable"], progress["done"]) == ("stalled", True, 0)
    page = hub.client.get(f"/console/jobs/{job_id}").get_data(as_text=True)
    assert "Its worker stopped" in page
    assert f"/console/jobs/{job_id}/resume" in page
    assert _statuses(hub) == ["rejected", "rejected"]

    assert post(hub.client, f"/console/jobs/{job_id}/resume").status_code == 302
    resumed = job_progress(hub.runtime.db, job_id)
    assert resumed is not None
    assert (resumed["status"], resumed["resumable"]) == ("queued", False)
    hub.drain()
    finished = job_progress(hub.runtime.db, job_id)
    assert finished is not None
    assert (finished["status"], finished["done"]) == ("finished", 2)
    assert _statuses(hub) == ["delivered", "delivered"]
    with hub.runtime.db.read_session() as session:
        actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.target == job_id)))
    assert "replay_resumed" in actions


def test_a_job_still_beating_or_still_waiting_briefly_is_not_stalled(hub: Hub) -> None:
    job_id = _started_job(hub)
    _set_job(hub, job_id, status="running", updated_at=datetime.now(UTC) - timedelta(seconds=30))
    progress = job_progress(hub.runtime.db, job_id)
    assert progress is not None
    assert (progress["status"], progress["resumable"]) == ("running", False)
    post(hub.client, f"/console/jobs/{job_id}/resume")
    assert job_progress(hub.runtime.db, job_id)["status"] == "running"  # type: ignore[index]
    # Queued: waiting behind other work is normal for a while; lost only after an hour.
    _set_job(hub, job_id, status="queued", updated_at=datetime.now(UTC) - timedelta(minutes=20))
    assert job_progress(hub.runtime.db, job_id)["status"] == "queued"  # type: ignore[index]
    _set_job(hub, job_id, updated_at=datetime.now(UTC) - timedelta(hours=2))
    assert job_progress(hub.runtime.db, job_id)["status"] == "stalled"  # type: ignore[index]


def test_a_second_copy_of_a_jobs_queue_entry_starts_nothing(hub: Hub) -> None:
    job_id = _started_job(hub)
    # Another runner holds the job (it was resumed while an old RQ entry was still queued).
    _set_job(hub, job_id, status="running")
    assert run_job(hub.runtime.db, job_id) == "running"
    assert _statuses(hub) == ["rejected", "rejected"], "the copy replayed nothing"
    _set_job(hub, job_id, status="queued")
    assert run_job(hub.runtime.db, job_id) == "finished"
    assert run_job(hub.runtime.db, job_id) == "finished"
