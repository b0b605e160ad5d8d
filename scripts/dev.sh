#!/usr/bin/env bash
# `make dev`: the whole system on loopback with the real Dapr runtime.
#
#   1. installs what is missing (daprd and the scheduler, Kafka, grpcurl) and
#      builds the apps;
#   2. starts Kafka (127.0.0.1:9092, data in data/kafka) and the Dapr
#      scheduler (127.0.0.1:50006, data in data/scheduler), unless something
#      already listens there (a `dapr init` scheduler, a Kafka of your own);
#   3. runs dev/dapr.yaml with dev/launcher: one daprd per app, then the app.
#
# The apps keep their data in SQLite files under data/, Dapr state in
# data/state.sqlite. Logs: app output on the console; daprd in
# .dapr/logs/<app>_daprd.log; Kafka and the scheduler in data/logs/.
#
# Ctrl-C or SIGTERM stops the launcher (sidecars, then apps), then the
# scheduler and Kafka. Every child runs under `setpriv --pdeathsig TERM`, so
# even if this script is killed outright they stop with it.
#
#   scripts/dev.sh               everything
#   scripts/dev.sh --infra-only  only Kafka and the scheduler (for `dapr run -f dev/dapr.yaml`)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-target}
infra_only=false
[ "${1:-}" = --infra-only ] && infra_only=true

scripts/install-dapr.sh
scripts/install-kafka.sh
scripts/install-tools.sh grpcurl
if ! $infra_only; then
  echo "building the apps" >&2
  cargo build --workspace --bins
fi
mkdir -p data/logs

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pids=()
stop_all() {
  trap - INT TERM
  # Newest first: the launcher, then the scheduler, then Kafka.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

# Runs `what` in the background in a session of its own (a terminal's
# Ctrl-C reaches it only through this script), dying with this script.
background() { # log command...
  local log=$1; shift
  setpriv --pdeathsig TERM -- setsid "$@" >"$log" 2>&1 </dev/null &
  pids+=($!)
}
await() { # what seconds log check...
  local what=$1 seconds=$2 log=$3; shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "${pids[-1]}" 2>/dev/null; then
      echo "$what did not start:" >&2; tail -n 30 "$log" >&2; exit 1
    fi
    sleep 0.2
  done
}

if port_open 9092; then
  echo "using the Kafka that already listens on 127.0.0.1:9092" >&2
else
  background data/logs/kafka.log scripts/stack/kafka.sh data/kafka 9092 9093
  await Kafka 60 data/logs/kafka.log grep -q 'Kafka Server started' data/logs/kafka.log
  echo "Kafka on 127.0.0.1:9092 (data/kafka)" >&2
fi
if port_open 50006; then
  echo "using the Dapr scheduler that already listens on 127.0.0.1:50006" >&2
else
  background data/logs/scheduler.log scripts/stack/scheduler.sh data/scheduler
  await "the Dapr scheduler" 30 data/logs/scheduler.log curl -sf http://127.0.0.1:58081/healthz
  echo "Dapr scheduler on 127.0.0.1:50006 (data/scheduler)" >&2
fi

if $infra_only; then
  echo "Kafka and the scheduler run; Ctrl-C stops them" >&2
else
  echo "token for user alice: $("$target/debug/dev-token" alice)"
  export DAPR_RUNTIME_PATH="$root/.tools/dapr-runtime"
  setpriv --pdeathsig TERM -- setsid "$target/debug/launcher" -f dev/dapr.yaml </dev/null &
  pids+=($!)
fi
# `wait` returns early when a trapped signal arrives; then the trap runs.
wait "${pids[-1]}"
