#!/usr/bin/env bash
# Runs the integration-tests suite against the kind cluster: the same tests
# that run against the local runtime, pointed at the cluster by environment:
#   E2E_TARGET=kind
#   E2E_TASK_ADDR=127.0.0.1:<port>   the task Service, through kubectl port-forward
#   E2E_HS256_SECRET=...             the cluster's JWT key (Secret tasks-auth), to mint tokens
#   E2E_NAMESPACE, E2E_KUBE_CONTEXT  where the release runs
# Run `make kind-up deploy` before. The port-forward is stopped on exit.
#
# Environment: KIND_CLUSTER (tasks), DEPLOY_NAMESPACE (tasks), DEPLOY_RELEASE (tasks),
# E2E_LOCAL_PORT (15051), NEXTEST_ARGS (extra arguments for cargo nextest run).
set -euo pipefail
# shellcheck source=scripts/deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DEPLOY_ROOT"

KIND_CLUSTER="${KIND_CLUSTER:-tasks}"
NAMESPACE="${DEPLOY_NAMESPACE:-tasks}"
RELEASE="${DEPLOY_RELEASE:-tasks}"
LOCAL_PORT="${E2E_LOCAL_PORT:-15051}"
KUBECTL=$(kubectl_bin)
context="kind-$KIND_CLUSTER"
kc() { "$KUBECTL" --context "$context" "$@"; }

need cargo
cargo nextest --version >/dev/null 2>&1 || die "cargo-nextest is required"
kc -n "$NAMESPACE" get service "$RELEASE-task" >/dev/null || die "service $RELEASE-task not found: run make deploy"

# grpcurl for the suite (the project's installer; a no-op when present).
if [ -x scripts/install-tools.sh ]; then scripts/install-tools.sh grpcurl; fi

pf_log=$(mktemp)
kc -n "$NAMESPACE" port-forward "service/$RELEASE-task" "$LOCAL_PORT:50051" --address 127.0.0.1 >"$pf_log" 2>&1 &
pf_pid=$!
cleanup() {
  kill "$pf_pid" 2>/dev/null || true
  wait "$pf_pid" 2>/dev/null || true
  rm -f "$pf_log"
}
trap cleanup EXIT

log "waiting for the port-forward on 127.0.0.1:$LOCAL_PORT"
deadline=$((SECONDS + 60))
until (exec 3<>"/dev/tcp/127.0.0.1/$LOCAL_PORT") 2>/dev/null; do
  if ! kill -0 "$pf_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
    cat "$pf_log" >&2
    die "port-forward to service/$RELEASE-task did not come up"
  fi
  sleep 1
done

hs256=$(kc -n "$NAMESPACE" get secret tasks-auth -o 'jsonpath={.data.hs256-secret}' | base64 -d)
[ -n "$hs256" ] || die "secret tasks-auth has no hs256-secret"

export E2E_TARGET=kind
export E2E_TASK_ADDR="127.0.0.1:$LOCAL_PORT"
export E2E_HS256_SECRET="$hs256"
export E2E_NAMESPACE="$NAMESPACE"
export E2E_KUBE_CONTEXT="$context"

log "cargo nextest run -p integration-tests (E2E_TARGET=kind, E2E_TASK_ADDR=$E2E_TASK_ADDR)"
# shellcheck disable=SC2086
cargo nextest run -p integration-tests ${NEXTEST_ARGS:-}
