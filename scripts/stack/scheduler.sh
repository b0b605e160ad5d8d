#!/usr/bin/env bash
# Runs the Dapr scheduler (the Jobs API's store and trigger, with an embedded
# etcd) on loopback, in the foreground, keeping its data in DIR:
#
#   scripts/stack/scheduler.sh DIR [PORT] [ETCD_CLIENT_PORT] [ETCD_PEER_PORT] [HEALTHZ_PORT]
#                                      (defaults 50006, 2379, 2380, 58081; as `dapr init`)
#
# Jobs survive a restart on the same DIR. daprd finds it with
# `--scheduler-host-address 127.0.0.1:PORT`; it is ready when
# http://127.0.0.1:HEALTHZ_PORT/healthz answers 200. Metrics are off (daprd
# has its own). The binary comes from scripts/install-dapr.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:?usage: scheduler.sh DIR [PORT] [ETCD_CLIENT_PORT] [ETCD_PEER_PORT] [HEALTHZ_PORT]}
port=${2:-50006}
client=${3:-2379}
peer=${4:-2380}
healthz=${5:-58081}
bin="$root/.tools/bin/scheduler"
[ -x "$bin" ] || "$root/scripts/install-dapr.sh"
mkdir -p "$dir"
# --override-broadcast-host-port: the address daprd is told to use; without
# it the scheduler looks for a non-loopback address, which a sandbox may lack.
exec "$bin" --mode standalone --listen-address 127.0.0.1 --port "$port" \
  --override-broadcast-host-port "127.0.0.1:$port" \
  --etcd-data-dir "$dir" --etcd-client-listen-address 127.0.0.1 --etcd-client-port "$client" \
  --etcd-initial-cluster "dapr-scheduler-server-0=http://127.0.0.1:$peer" \
  --healthz-listen-address 127.0.0.1 --healthz-port "$healthz" --enable-metrics=false \
  --log-level "${SCHEDULER_LOG_LEVEL:-warn}"
