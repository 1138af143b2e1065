#!/usr/bin/env bash
# `make bench`: the bench with a throwaway PostgreSQL (fsync on, like a real server) unless
# BENCH_DATABASE_URL or TEST_DATABASE_URL names one. Arguments name sections (python -m bench --help).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/postgres.sh
trap stop_pg EXIT

if [ -z "${BENCH_DATABASE_URL:-}${TEST_DATABASE_URL:-}" ]; then
  PG_FSYNC=on start_pg || echo "bench.sh: no PostgreSQL available; its figures are skipped" >&2
fi

.venv/bin/python -m bench "$@"
