#!/usr/bin/env bash
# Runs the test suite with every service it needs: the suite starts its own redis-server; this
# script starts a throwaway PostgreSQL (installing it with apt when root and missing) so the
# storage tests run on PostgreSQL too, and installs Debian's chromium for the browser tests.
# Without PostgreSQL or Chromium those tests are skipped, except under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_DIR=""
PG_CTL=""
PG_RUN_AS=()

find_pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin /usr/local/opt/postgresql*/bin /opt/homebrew/opt/postgresql*/bin; do
    if [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
  done
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
  return 1
}

install_pg() {
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing PostgreSQL with apt" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null
  fi
}

start_pg() {
  local bin port user
  bin=$(find_pg_bin) || { install_pg; bin=$(find_pg_bin) || return 1; }
  PG_DIR=$(mktemp -d /tmp/hub-pg.XXXXXX)
  user=$(id -un)
  if [ "$(id -u)" = "0" ]; then
    # initdb refuses to run as root: the cluster belongs to the postgres user.
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$PG_DIR"
    PG_RUN_AS=(runuser -u postgres --)
    user=postgres
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "${PG_RUN_AS[@]}" "$bin/initdb" -D "$PG_DIR/data" -A trust -U "$user" --no-sync >/dev/null
  # fsync off is fine for a throwaway test cluster; synchronous_commit stays on.
  "${PG_RUN_AS[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c fsync=off -c max_connections=200" start >/dev/null
  PG_CTL="$bin/pg_ctl"
  export TEST_DATABASE_URL="postgresql://$user@127.0.0.1:$port/postgres"
  echo "test.sh: PostgreSQL on port $port" >&2
}

stop_pg() {
  if [ -n "$PG_CTL" ]; then
    "${PG_RUN_AS[@]}" "$PG_CTL" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  [ -n "$PG_DIR" ] && rm -rf "$PG_DIR"
}
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
