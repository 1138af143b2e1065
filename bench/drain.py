"""Worker drain: stored deliveries -> parsed -> delivered to a local webhook receiver, with 1, 2 and
4 `hub worker` processes, on SQLite and on PostgreSQL (BENCH_DATABASE_URL or TEST_DATABASE_URL:
a server where the bench may create throwaway databases; `make bench` starts one).

The calls are stored once per database, the way the webhook endpoint stores them, and each run
starts from a copy of that database (SQLite's backup API, PostgreSQL's CREATE DATABASE TEMPLATE):
storing them is not what is measured, and did take most of the section's time.

What is measured is the hub's work on two cores, so the rig around it takes as little of them as
it can (see `measure_drain`): no work is handed out until every worker listens, the clock runs
from the first claim to the last delivery's recorded end, and the receiver is a lean process of
its own (bench.receiver: it checks every signature and counts every delivery, at a tenth of the
CPU per request of the webhook fake under werkzeug, which took a fifth of the cores from the
workers it was measuring). 3,000 calls: a drain of several seconds, where a worker's last job or
a dispatcher's pause weigh little.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bench import summary
from bench.ingest import Environment, callrail_template, environment, measure_drain, signed_callrail
from bench.postgres import postgres_admin_url, throwaway_postgres
from hub.receive import receive
from hub.runtime import Runtime
from hub.settings import Settings
from webhooks.base import Headers, InboundRequest

TARGET_SCALING = 1.6
#: Rounds per number of workers, alternating: one drain's rate moved by a sixth from one run to
#: the next on this machine class, so the ratio is taken between medians.
ROUNDS = int(os.environ.get("BENCH_DRAIN_ROUNDS", "3"))


def store_receipts(setup: Environment, calls: int) -> None:
    """Store `calls` signed deliveries the way the webhook endpoint does (verify, one insert each)."""
    # hub.yaml's ${...} references are read from this process's environment.
    os.environ.update({k: v for k, v in setup.env.items() if k.startswith("BENCH_")})
    runtime = Runtime.from_settings(Settings.from_env(setup.env), sandbox_urls={})
    source = runtime.config.sources["callrail"]
    provider = runtime.provider(source)
    template = callrail_template()
    try:
        for n in range(calls):
            signed = signed_callrail(template, n)
            url = "http://bench/webhooks/callrail"
            request = InboundRequest("POST", url, Headers(signed.headers), signed.body, datetime.now(UTC))
            answer = receive(runtime.receipt_writer, source, provider, request)
            if answer.status != 202:
                raise RuntimeError(f"storing a delivery answered {answer.status}: {answer.body}")
    finally:
        runtime.close()


def _sqlite_file(setup: Environment) -> Path:
    return Path(Settings.from_env(setup.env).database_url.removeprefix("sqlite:///"))


@contextmanager
def seeded(admin: str | None, calls: int) -> Iterator[str | None]:
    """A database holding `calls` stored deliveries: a SQLite file's path, or a PostgreSQL URL."""
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(throwaway_postgres(admin)) if admin else None
        setup = environment(url)
        try:
            store_receipts(setup, calls)
        finally:
            setup.receiver.stop()
            setup.redis.stop()
        yield url or str(_sqlite_file(setup))


def drain_once(admin: str | None, seed: str, workers: int, calls: int) -> dict[str, float]:
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(throwaway_postgres(admin, template=seed)) if admin else None
        setup = environment(url)
        try:
            if url is None:
                with sqlite3.connect(seed) as source, sqlite3.connect(_sqlite_file(setup)) as target:
                    source.backup(target)
            return measure_drain(setup, workers, calls)
        finally:
            setup.receiver.stop()
            setup.redis.stop()


def _rate(server: str | None, seed: str, workers: int, calls: int) -> float:
    result = drain_once(server, seed, workers, calls)
    if result["receiver_refused"] or result["receiver_received"] < result["delivered"]:
        raise RuntimeError(f"the receiver did not get every delivery signed: {result}")
    return result["delivered"] / result["seconds"] if result["seconds"] else 0.0


def run(calls: int = 3000, worker_counts: tuple[int, ...] = (1, 2, 4), rounds: int = ROUNDS) -> list[str]:
    rounds = max(rounds, 1)
    lines = [
        f"Worker drain: {calls} stored calls parsed and delivered to a local webhook receiver, per number of workers",
        f"(median of {rounds} alternating rounds; the range in brackets)",
        f"  {'database':<12}"
        + "".join(f"{f'{n} worker(s)':>16}" for n in worker_counts)
        + f"   2 vs 1 (target >= {TARGET_SCALING:g})",
    ]
    admin = postgres_admin_url()
    for name in ("sqlite", "postgresql"):
        if name == "postgresql" and admin is None:
            lines.append("  postgresql: not measured (set BENCH_DATABASE_URL or TEST_DATABASE_URL)")
            summary.record(f"drain on {name}: 2 workers >= {TARGET_SCALING:g}x one", "-", None)
            continue
        server = admin if name == "postgresql" else None
        samples: dict[int, list[float]] = {count: [] for count in worker_counts}
        with seeded(server, calls) as seed:
            assert seed is not None
            for _ in range(rounds):
                for count in worker_counts:
                    samples[count].append(_rate(server, seed, count, calls))
        rates = {count: statistics.median(values) for count, values in samples.items()}
        ratio = rates.get(2, 0.0) / rates[1] if rates.get(1) else 0.0
        met = ratio >= TARGET_SCALING
        summary.record(
            f"drain on {name}: 2 workers >= {TARGET_SCALING:g}x one",
            f"{ratio:.2f}x ({rates[1]:.0f} -> {rates.get(2, 0.0):.0f} calls/s)",
            met,
        )
        lines.append(
            f"  {name:<12}"
            + "".join(f"{f'{rates[n]:.0f} calls/s':>16}" for n in worker_counts)
            + f"   {ratio:.2f}x {summary.mark(met)}"
        )
        if rounds > 1:
            lines.append(
                f"  {'':<12}"
                + "".join(f"{f'[{min(samples[n]):.0f}-{max(samples[n]):.0f}]':>16}" for n in worker_counts)
            )
    return lines
