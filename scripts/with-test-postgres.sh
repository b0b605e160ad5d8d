#!/usr/bin/env bash
# Runs a command with TEST_DATABASE_URL pointing at a fresh, private
# PostgreSQL cluster made for this run (initdb + pg_ctl on a free loopback
# port, fsync off: throwaway data), and removes the cluster afterwards.
#
# - If TEST_DATABASE_URL is already set, the command runs against it as is.
# - If the PostgreSQL server binaries are missing, they are installed from
#   Debian's packages; if that is impossible but a server answers on
#   127.0.0.1:5432, that one is used.
# Every test creates its own database inside the cluster.
set -euo pipefail

if [ -n "${TEST_DATABASE_URL:-}" ]; then exec "$@"; fi

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
bin=$(find_bin)
if [ -z "$bin" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "installing PostgreSQL from Debian's packages" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) || true
  bin=$(find_bin)
fi
if [ -z "$bin" ]; then
  if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
    exec "$@"
  fi
  echo "no PostgreSQL server binaries and none listening on 127.0.0.1:5432" >&2
  exit 1
fi

# initdb refuses to run as root: run the cluster as the postgres user.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
dir=$(mktemp -d /tmp/tasks-test-pg.XXXXXX)
chmod 755 "$dir"
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT

as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 >/dev/null
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" start >/dev/null
echo "test PostgreSQL on 127.0.0.1:$port (data in $dir)" >&2
export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
"$@"
