"""Entry point of `make bench`: `python -m bench [section ...]`, every section when none is named.

Sections: steady (latency, backlog, API requests per call, sustained rate, a 200 ms CRM, memory
after 10,000 calls), drain (1, 2 and 4 workers on SQLite and PostgreSQL), ingest (the webhook
path against a bare Flask endpoint), bursts (the CRM connectors on 1,000 calls). `crm_quota` runs
steady's 200 ms CRM alone on a fresh `hub run` (BENCH_CRM_CALLS new callers, default 5,000): not
part of a whole run, which measures it inside steady.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable, Iterable

from bench import drain, ingest, steady, summary


def bursts() -> list[str]:
    lines: list[str] = []
    for name in ("salesforce_burst", "hubspot_burst", "ga4_burst"):
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            continue
        rows = module.run()
        if not rows:
            continue
        vendor = name.split("_")[0]
        for row in rows:
            scenario = str(row.get("scenario", ""))
            label = scenario if scenario.startswith(vendor) else f"{vendor} {scenario.replace('_', ' ')}"
            if "requests_per_call" in row:
                summary.record(f"burst: {label}: API requests per call", _fmt(row["requests_per_call"]), None)
        columns = list(rows[0])
        lines += ["", f"{name.replace('_', ' ')}:", "  " + "  ".join(f"{c:>16}" for c in columns)]
        lines += ["  " + "  ".join(f"{_fmt(row[c]):>16}" for c in columns) for row in rows]
    return lines


SECTIONS: dict[str, Callable[[], Iterable[str]]] = {
    "steady": steady.run,
    "drain": drain.run,
    "ingest": ingest.run,
    "bursts": bursts,
}
#: Sections run only when named.
ON_REQUEST: dict[str, Callable[[], Iterable[str]]] = {
    "crm_quota": lambda: steady.crm_quota_alone(int(os.environ.get("BENCH_CRM_CALLS", "5000"))),
}


def main(argv: list[str]) -> int:
    known = {**SECTIONS, **ON_REQUEST}
    unknown = [name for name in argv if name not in known]
    if unknown:
        print(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    print("callhub bench: figures vary by machine and load; compare the ratios, measured in one run.\n")
    timings: dict[str, float] = {}
    for name in argv or list(SECTIONS):
        started = time.monotonic()
        print(f"== {name}", flush=True)
        for line in known[name]():
            print(line, flush=True)
        timings[name] = time.monotonic() - started
        print(f"({name}: {timings[name]:.0f} s)\n", flush=True)
    for line in summary.table(timings):
        print(line, flush=True)
    return 0


def _fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
