"""Worker drain: stored deliveries -> parsed -> delivered to a local webhook receiver, with 1, 2 and
4 `hub worker` processes, on SQLite and on PostgreSQL (BENCH_DATABASE_URL or TEST_DATABASE_URL:
a server where the bench may create throwaway databases; `make bench` starts one)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from bench.ingest import Environment, callrail_template, environment, measure_drain, signed_callrail
from bench.postgres import postgres_admin_url, throwaway_postgres
from hub.receive import receive
from hub.runtime import Runtime
from hub.settings import Settings
from webhooks.base import Headers, InboundRequest

TARGET_SCALING = 1.6


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


def drain_once(database_url: str | None, workers: int, calls: int) -> dict[str, float]:
    setup = environment(database_url)
    try:
        store_receipts(setup, calls)
        return measure_drain(setup, workers, calls)
    finally:
        setup.receiver.stop()
        setup.redis.stop()


def run(calls: int = 1500, worker_counts: tuple[int, ...] = (1, 2, 4)) -> list[str]:
    lines = [
        f"Worker drain: {calls} stored calls parsed and delivered to a local webhook receiver, per number of workers",
        f"  {'database':<12}"
        + "".join(f"{f'{n} worker(s)':>16}" for n in worker_counts)
        + "   2 vs 1 (target >= 1.6)",
    ]
    admin = postgres_admin_url()
    for name in ("sqlite", "postgresql"):
        if name == "postgresql" and admin is None:
            lines.append("  postgresql: not measured (set BENCH_DATABASE_URL or TEST_DATABASE_URL)")
            continue
        rates: dict[int, float] = {}
        for count in worker_counts:
            if name == "sqlite":
                result = drain_once(None, count, calls)
            else:
                assert admin is not None
                with throwaway_postgres(admin) as url:
                    result = drain_once(url, count, calls)
            rates[count] = result["delivered"] / result["seconds"] if result["seconds"] else 0.0
        ratio = rates.get(2, 0.0) / rates[1] if rates.get(1) else 0.0
        verdict = "met" if ratio >= TARGET_SCALING else "NOT met"
        lines.append(
            f"  {name:<12}"
            + "".join(f"{f'{rates[n]:.0f} calls/s':>16}" for n in worker_counts)
            + f"   {ratio:.2f}x {verdict}"
        )
    return lines
