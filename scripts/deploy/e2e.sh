#!/usr/bin/env bash
# Runs the public-API journeys of the integration-tests suite
# (integration-tests/tests/journeys.rs) against the kind cluster: the same
# tests that `make test` runs against the in-process system behind the local
# runtime, pointed at the cluster by environment:
#   E2E_TARGET=kind
#   E2E_TASK_ADDR, E2E_AUDIT_ADDR, E2E_SYNC_ADDR,
#   E2E_NOTIFICATION_ADDR                         127.0.0.1:<port>, kubectl port-forwards
#   E2E_HS256_SECRET                              the cluster's JWT key (Secret tasks-auth), to mint tokens
# Run `make kind-up deploy` before. The port-forwards are stopped on exit.
#
# Environment: KIND_CLUSTER (tasks), DEPLOY_NAMESPACE (tasks), DEPLOY_RELEASE (tasks),
# E2E_LOCAL_PORT (15051; the audit, sync and notification ports follow it),
# NEXTEST_ARGS (extra arguments for cargo nextest run).
set -euo pipefail
# shellcheck source=scripts/deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DEPLOY_ROOT"

LOCAL_PORT="${E2E_LOCAL_PORT:-15051}"
KUBECTL=$(kubectl_bin)

need cargo
cargo nextest --version >/dev/null 2>&1 || die "cargo-nextest is required"
kc -n "$NAMESPACE" get service "$RELEASE-task" >/dev/null || die "service $RELEASE-task not found: run make deploy"

pids=()
logs=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -f "${logs[@]}"
}
trap cleanup EXIT

# forward SERVICE LOCAL_PORT: kubectl port-forward to the Service's gRPC port,
# waiting until the local port accepts connections.
forward() {
  local service="$RELEASE-$1" port=$2 pf_log pid
  kc -n "$NAMESPACE" get service "$service" >/dev/null || die "service $service not found: run make deploy"
  pf_log=$(mktemp)
  logs+=("$pf_log")
  kc -n "$NAMESPACE" port-forward "service/$service" "$port:50051" --address 127.0.0.1 >"$pf_log" 2>&1 &
  pid=$!
  pids+=("$pid")
  log "waiting for the port-forward of $service on 127.0.0.1:$port"
  local deadline=$((SECONDS + 60))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      cat "$pf_log" >&2
      die "port-forward to service/$service did not come up"
    fi
    sleep 1
  done
}

forward task "$LOCAL_PORT"
forward audit "$((LOCAL_PORT + 1))"
forward sync-gateway "$((LOCAL_PORT + 2))"
forward notification "$((LOCAL_PORT + 3))"

hs256=$(kc -n "$NAMESPACE" get secret tasks-auth -o 'jsonpath={.data.hs256-secret}' | base64 -d)
[ -n "$hs256" ] || die "secret tasks-auth has no hs256-secret"

export E2E_TARGET=kind
export E2E_TASK_ADDR="127.0.0.1:$LOCAL_PORT"
export E2E_AUDIT_ADDR="127.0.0.1:$((LOCAL_PORT + 1))"
export E2E_SYNC_ADDR="127.0.0.1:$((LOCAL_PORT + 2))"
export E2E_NOTIFICATION_ADDR="127.0.0.1:$((LOCAL_PORT + 3))"
export E2E_HS256_SECRET="$hs256"

log "cargo nextest run -p integration-tests --test journeys (E2E_TARGET=kind)"
# shellcheck disable=SC2086
cargo nextest run -p integration-tests --test journeys ${NEXTEST_ARGS:-}
