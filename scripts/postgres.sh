#!/usr/bin/env bash
# Sourced by test.sh and bench.sh: start_pg starts a throwaway PostgreSQL (installing it with apt
# when root and missing) and exports TEST_DATABASE_URL; stop_pg removes it. PG_FSYNC=on keeps
# fsync (the bench compares it with SQLite, which syncs); tests run without it. PG_OPTIONS adds
# server settings (e.g. "-c commit_delay=200 -c commit_siblings=2").

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
  # fsync off is fine for a throwaway test cluster (synchronous_commit stays on); the bench keeps it.
  "${PG_RUN_AS[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c fsync=${PG_FSYNC:-off} -c max_connections=200 ${PG_OPTIONS:-}" start >/dev/null
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
