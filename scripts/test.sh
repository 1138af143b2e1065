#!/usr/bin/env bash
# Runs the test suite with every service it needs: the suite starts its own redis-server; this
# script starts a throwaway PostgreSQL (installing it with apt when root and missing) so the
# storage tests run on PostgreSQL too. Without PostgreSQL they are skipped, except under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/postgres.sh

trap stop_pg EXIT

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  start_pg || echo "test.sh: no PostgreSQL available; its tests will be skipped" >&2
fi

.venv/bin/python -m pytest "$@"
