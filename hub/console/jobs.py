"""RQ job functions of the console, referenced by import path."""

from __future__ import annotations

from hub import jobs
from hub.console.bulk import run_job


def run_replay_job(job_id: str) -> str:
    return run_job(jobs.runtime().db, job_id)
