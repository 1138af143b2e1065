#!/usr/bin/env bash
# Runs the test suite with every service it needs: the suite starts its own redis-server; this
# script starts a throwaway PostgreSQL (installing it with apt when root and missing) so the
# storage tests run on PostgreSQL too, and installs Debian's chromium for the browser tests.
# Without PostgreSQL or Chromium those tests are skipped, except under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/postgres.sh

trap stop_pg EXIT

# Browser tests drive Debian's Chromium (never a downloaded browser): install it when root and
# missing. Without it they are skipped, except under CI=true.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "test.sh: installing chromium with apt" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null \
    || echo "test.sh: chromium could not be installed; browser tests will be skipped" >&2
fi

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  start_pg || echo "test.sh: no PostgreSQL available; its tests will be skipped" >&2
fi

.venv/bin/python -m pytest "$@"
