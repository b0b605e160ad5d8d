#!/usr/bin/env bash
# Runs a command (the tests, the benchmarks) with the servers they need,
# started for this run on free loopback ports and removed afterwards:
#
#   TEST_DATABASE_URL    a fresh, private PostgreSQL cluster (initdb + pg_ctl;
#                        fsync off unless TEST_PG_DURABLE=1: throwaway data)
#   TEST_KAFKA_BROKERS   a single-node Kafka (scripts/stack/kafka.sh)
#   TEST_DAPR_SCHEDULER  the Dapr scheduler (scripts/stack/scheduler.sh)
#
# Every test makes its own database in the cluster and its own Dapr
# namespace (topics, consumer groups, jobs) on the broker and scheduler.
# A variable that is already set is used as is. PostgreSQL's server binaries
# come from Debian's packages when missing (if that is impossible but a
# server answers on 127.0.0.1:5432, that one is used); daprd, the scheduler
# and Kafka from scripts/install-dapr.sh and scripts/install-kafka.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
dirs=()
pg_stop=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ ${#pg_stop[@]} -gt 0 ]; then "${pg_stop[@]}" >/dev/null 2>&1 || true; fi
  for dir in "${dirs[@]}"; do rm -rf "$dir"; done
}
trap cleanup EXIT
# Waits until `check` succeeds, or fails naming `what` and showing `log`.
await() { # what seconds log check...
  local what=$1 seconds=$2 log=$3; shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then echo "$what did not start in ${seconds}s:" >&2; tail -n 30 "$log" >&2; exit 1; fi
    sleep 0.2
  done
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_kafka() {
  "$root/scripts/install-kafka.sh"
  local dir; dir=$(mktemp -d /tmp/tasks-test-kafka.XXXXXX); dirs+=("$dir")
  local port; port=$(free_port)
  setpriv --pdeathsig TERM -- "$root/scripts/stack/kafka.sh" "$dir" "$port" "$(free_port)" >"$dir/log" 2>&1 &
  pids+=($!)
  await Kafka 60 "$dir/log" grep -q 'Kafka Server started' "$dir/log"
  echo "test Kafka on 127.0.0.1:$port (data in $dir)" >&2
  export TEST_KAFKA_BROKERS="127.0.0.1:$port"
}

start_scheduler() {
  "$root/scripts/install-dapr.sh"
  local dir; dir=$(mktemp -d /tmp/tasks-test-scheduler.XXXXXX); dirs+=("$dir")
  local port healthz; port=$(free_port); healthz=$(free_port)
  setpriv --pdeathsig TERM -- "$root/scripts/stack/scheduler.sh" "$dir/data" "$port" "$(free_port)" "$(free_port)" "$healthz" >"$dir/log" 2>&1 &
  pids+=($!)
  await "the Dapr scheduler" 30 "$dir/log" curl -sf "http://127.0.0.1:$healthz/healthz"
  echo "test Dapr scheduler on 127.0.0.1:$port" >&2
  export TEST_DAPR_SCHEDULER="127.0.0.1:$port"
}

[ -n "${TEST_KAFKA_BROKERS:-}" ] || start_kafka
[ -n "${TEST_DAPR_SCHEDULER:-}" ] || start_scheduler
if [ -n "${TEST_DATABASE_URL:-}" ]; then "$@"; exit $?; fi

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
bin=$(find_bin)
# As root, or through passwordless sudo (CI runners).
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif sudo -n true 2>/dev/null; then sudo "$@"; else return 1; fi; }
if [ -z "$bin" ] && command -v apt-get >/dev/null; then
  echo "installing PostgreSQL from Debian's packages" >&2
  (as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) || true
  bin=$(find_bin)
fi
if [ -z "$bin" ]; then
  if port_open 5432; then
    export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
    "$@"; exit $?
  fi
  echo "no PostgreSQL server binaries and none listening on 127.0.0.1:5432" >&2
  exit 1
fi

# initdb refuses to run as root: run the cluster as the postgres user.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
dir=$(mktemp -d /tmp/tasks-test-pg.XXXXXX); dirs+=("$dir")
chmod 755 "$dir"
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
port=$(free_port)
pg_stop=(as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop)
durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
[ "${TEST_PG_DURABLE:-0}" = 1 ] && durability=""

as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 >/dev/null
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $durability -c max_connections=300" start >/dev/null
echo "test PostgreSQL on 127.0.0.1:$port (data in $dir)" >&2
export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
"$@"
