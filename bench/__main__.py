"""Entry point of `make bench`."""

from __future__ import annotations

import importlib
import sys

from bench import ingest


def main() -> int:
    print("callhub bench: figures vary by machine and load; compare the ratios, measured in one run.\n")
    for line in ingest.run():
        print(line)
    for name in ("salesforce_burst", "hubspot_burst", "ga4_burst"):
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            continue
        print()
        rows = module.run()
        if not rows:
            continue
        columns = list(rows[0])
        print(f"{name.replace('_', ' ')}:")
        print("  " + "  ".join(f"{c:>16}" for c in columns))
        for row in rows:
            print("  " + "  ".join(f"{_fmt(row[c]):>16}" for c in columns))
    return 0


def _fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    sys.exit(main())
