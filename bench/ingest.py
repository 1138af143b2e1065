"""Ingest path vs a bare Flask 202 endpoint, worker drain rate, and memory per process."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import requests
from rq import Worker
from sqlalchemy import func, select

from bench import summary
from bench.load import LoadResult, Request, run_load
from bench.postgres import postgres_admin_url, throwaway_postgres
from bench.receiver import ReceiverProcess
from hub.dispatch import LEADER_KEY
from hub.redis_server import RedisServer, free_port
from hub.samples import request_from_bytes
from hub.settings import Settings
from hub.store.db import Database, migrate_schema
from hub.store.models import Delivery, Receipt
from hub.supervisor import RunOptions, web_command
from webhooks.base import SourceSettings
from webhooks.callrail import CallRailProvider

PROJECT = Path(__file__).resolve().parent.parent
SAMPLE = PROJECT / "hub" / "sample_calls" / "callrail" / "2_post_call_answered_web_session.json"
SECRET = "bench-secret"
CONFIG = """version: 1
sources:
  - {id: callrail, provider: callrail, secrets: ["${BENCH_SECRET}"]}
destinations:
  - id: webhook
    type: webhook
    credentials: {url: "${BENCH_HOOK_URL}", secret: "${BENCH_HOOK_SECRET}"}
    options: {concurrency: 8}
routes:
  - {from: "*", to: [webhook]}
"""


def signed_callrail(template: str, n: int) -> Request:
    """The n-th unique CallRail delivery (own call id), signed as CallRail signs."""
    body = template.replace("__CALL_ID__", f"CALbench{n:012d}").encode()
    provider = CallRailProvider(SourceSettings("callrail"))
    signed = provider.sign(
        request_from_bytes("x.json", body, "http://bench/webhooks/callrail"), SECRET, datetime.now(UTC)
    )
    return Request("POST", "/webhooks/callrail", signed.body, dict(signed.headers))


def callrail_template() -> str:
    text = SAMPLE.read_text()
    return re.sub(r'"resource_id":\s*"[^"]+"', '"resource_id":"__CALL_ID__"', text, count=1)


@dataclass
class Environment:
    folder: Path
    env: dict[str, str]
    redis: RedisServer
    receiver: ReceiverProcess


def environment(database_url: str | None = None) -> Environment:
    folder = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    redis = RedisServer(folder / "redis", free_port()).start()
    receiver = ReceiverProcess("bench-hook-secret")
    (folder / "hub.yaml").write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "DATABASE_URL", "REDIS_URL"))}
    env.update(
        {
            "HUB_CONFIG": str(folder / "hub.yaml"),
            "HUB_DATA_DIR": str(folder / "var"),
            "REDIS_URL": redis.url,
            "HUB_ADMIN_TOKEN": "bench",
            "HUB_LOG_LEVEL": "WARNING",
            "BENCH_SECRET": SECRET,
            "BENCH_HOOK_URL": f"{receiver.url}/receive",
            "BENCH_HOOK_SECRET": "bench-hook-secret",
        }
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    migrate_schema(Settings.from_env(env).database_url)
    return Environment(folder, env, redis, receiver)


def _serve(app: str, env: dict[str, str], workers: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(web_command("127.0.0.1", port, workers, app), cwd=PROJECT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process, port
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{app} did not start")


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident memory."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children_of(pid: int) -> list[int]:
    try:
        output = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        return []
    return [int(p) for p in output.split()]


def measure_endpoints(
    apps: dict[str, tuple[str, dict[str, str]]], factory: Any, duration_s: float, rounds: int
) -> dict[str, tuple[LoadResult, float]]:
    """Alternate the endpoints (name -> (app, environment)) for `rounds` rounds: the machine's
    drift hits all alike. Each result keeps the median round's rate and every round's latencies.
    """
    servers = {name: _serve(app, env, RunOptions().web_workers) for name, (app, env) in apps.items()}
    runs: dict[str, list[LoadResult]] = {name: [] for name in apps}
    first = 0
    try:
        for _process, port in servers.values():
            first += 10**9
            run_load(port, factory, duration_s=1.0, first=first * 10)  # warm up, with calls of its own
        for _ in range(rounds):
            for name, (_, port) in servers.items():
                first += 10**9
                runs[name].append(run_load(port, factory, duration_s=duration_s, first=first * 10))
        memory = {
            name: max([peak_rss_mb(p) for p in children_of(process.pid)] or [0.0])
            for name, (process, _) in servers.items()
        }
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=10)
    results: dict[str, tuple[LoadResult, float]] = {}
    for name, rounds_run in runs.items():
        median = sorted(rounds_run, key=lambda r: r.rate)[len(rounds_run) // 2]
        merged = LoadResult(median.requests, sum(r.errors for r in rounds_run), median.seconds, [], {})
        for run in rounds_run:
            merged.latencies_ms.extend(run.latencies_ms)
            for status, count in run.statuses.items():
                merged.statuses[status] = merged.statuses.get(status, 0) + count
        results[name] = (merged, memory[name])
    return results


def measure_drain(setup: Environment, workers: int, calls: int = 3000) -> dict[str, Any]:
    """Time for `workers` to parse and deliver the first `calls` stored deliveries.

    The clock runs from the first claim of a receipt to the last delivery's `finished_at` (as the
    worker wrote it: the bench's polling period is not drain). No work is handed out until every
    worker (and its delivery lanes) listens: the bench holds the dispatcher's leader lock until
    then, so that no worker drains alone while the others are still starting.
    """
    settings = Settings.from_env(setup.env)
    db = Database(settings.database_url)
    with db.read_session() as session:
        stored = session.scalar(select(func.count()).select_from(Receipt)) or 0
    target = min(stored, calls)
    client = redis.Redis.from_url(setup.redis.url)
    gate = client.lock(LEADER_KEY, timeout=60)
    if not gate.acquire(blocking=False):
        raise RuntimeError("the dispatcher's lock is held before any worker started")
    procs = [
        subprocess.Popen([sys.executable, "-m", "hub.cli", "worker"], cwd=PROJECT, env=setup.env)
        for _ in range(workers)
    ]
    delivered = 0
    try:
        listening = workers * settings.deliver_concurrency
        deadline = time.monotonic() + 60
        while Worker.count(connection=client) < listening:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"{workers} worker(s) did not start")
            time.sleep(0.05)
        gate.release()
        deadline = time.monotonic() + 60
        while (waiting := _unclaimed(db)) >= stored and time.monotonic() < deadline:
            time.sleep(0.02)
        started = datetime.now(UTC)
        if waiting >= stored:
            raise RuntimeError("no receipt was claimed within a minute")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            time.sleep(0.25)
            with db.read_session() as session:
                delivered = (
                    session.scalar(
                        select(func.count()).select_from(Delivery).where(Delivery.status == "delivered")
                    )
                    or 0
                )
            if delivered >= target:
                break
        memory = max(peak_rss_mb(p.pid) for p in procs)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        client.close()
    with db.read_session() as session:
        finished = session.scalar(
            select(func.max(Delivery.finished_at)).where(Delivery.status == "delivered")
        )
    db.dispose()
    elapsed = (_aware(finished) - started).total_seconds() if finished else 0.0
    return {
        "receipts": target,
        "delivered": delivered,
        "seconds": elapsed,
        "workers": workers,
        "rss_mb": memory,
        **{f"receiver_{k}": v for k, v in setup.receiver.stats().items()},
    }


def _unclaimed(db: Database) -> int:
    """Receipts neither parsed nor claimed yet."""
    with db.read_session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Receipt)
                .where(Receipt.status == "received", Receipt.claim_token.is_(None))
            )
            or 0
        )


def _aware(moment: datetime) -> datetime:
    # SQLite hands back the UTC moments it stores without their zone.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def run(duration_s: float = 4.0, rounds: int = 3) -> list[str]:
    """The webhook path on SQLite and on PostgreSQL (when a server is given) beside a bare endpoint."""
    factory = functools.partial(signed_callrail, callrail_template())
    setups = [environment()]
    admin = postgres_admin_url()
    with contextlib.ExitStack() as stack:
        if admin is not None:
            setups.append(environment(stack.enter_context(throwaway_postgres(admin))))
        try:
            apps = {
                "bare": ("bench.bare:create()", setups[0].env),
                "sqlite": ("wsgi:create()", setups[0].env),
            }
            if len(setups) > 1:
                apps["postgresql"] = ("wsgi:create()", setups[1].env)
            measured = measure_endpoints(apps, factory, duration_s, rounds)
        finally:
            for setup in setups:
                setup.receiver.stop()
                setup.redis.stop()
    bare = measured["bare"][0]
    sync = os.environ.get("HUB_SQLITE_SYNCHRONOUS", "FULL")
    lines = [
        f"Ingest path: gunicorn sync x{RunOptions().web_workers}, a new connection per request, 64 concurrent clients,",
        f"a signed 6.6 KB CallRail delivery; median of {rounds} alternating {duration_s:g} s rounds; SQLite synchronous={sync}",
        f"{'endpoint':<34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'peak MB':>10}{'vs bare':>9}",
    ]
    labels = {
        "bare": "bare Flask 202",
        "sqlite": "hub /webhooks, SQLite",
        "postgresql": "hub /webhooks, PostgreSQL",
    }
    for name, (result, mb) in measured.items():
        lines.append(
            f"{labels[name]:<34}{result.rate:>10.0f}{result.percentile(50):>10.1f}{result.percentile(99):>10.1f}"
            f"{result.errors:>8}{mb:>10.1f}{result.rate / bare.rate:>9.2f}"
        )
    summary.record(
        "ingest: hub /webhooks on SQLite vs bare Flask", f"{measured['sqlite'][0].rate / bare.rate:.2f}", None
    )
    if "postgresql" in measured:
        ratio = measured["postgresql"][0].rate / measured["sqlite"][0].rate
        summary.record("ingest: PostgreSQL >= SQLite on the webhook path", f"{ratio:.2f}", ratio >= 1.0)
        lines.append(f"PostgreSQL / SQLite on the webhook path: {ratio:.2f} (target >= 1.00)")
    else:
        summary.record("ingest: PostgreSQL >= SQLite on the webhook path", "-", None)
        lines.append("PostgreSQL not measured (set BENCH_DATABASE_URL or TEST_DATABASE_URL)")
    return lines
