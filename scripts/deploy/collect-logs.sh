#!/usr/bin/env bash
# Dumps what is needed to debug a failed kind deploy/e2e run into E2E_LOG_DIR
# (default /tmp/tasks-e2e-logs): events, pod descriptions, logs of every
# container (app, daprd sidecar, migration Job) in the release, Dapr and
# infrastructure namespaces, Helm status/history, and `kind export logs`.
# Never fails: every step is best effort.
# Environment: KIND_CLUSTER (tasks), DEPLOY_NAMESPACE (tasks), DEPLOY_RELEASE (tasks), E2E_LOG_DIR.
set -uo pipefail
# shellcheck source=scripts/deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OUT="${E2E_LOG_DIR:-/tmp/tasks-e2e-logs}"
KUBECTL=$(kubectl_bin)
HELM=$(helm_bin)

mkdir -p "$OUT"
for ns in "$NAMESPACE" dapr-system redpanda postgres; do
  dir="$OUT/$ns"
  mkdir -p "$dir"
  kc -n "$ns" get all,events,networkpolicies,components.dapr.io,configurations.dapr.io,resiliencies.dapr.io \
    -o wide >"$dir/get.txt" 2>&1
  kc -n "$ns" describe pods >"$dir/describe-pods.txt" 2>&1
  for pod in $(kc -n "$ns" get pods -o name 2>/dev/null); do
    for c in $(kc -n "$ns" get "$pod" -o jsonpath='{.spec.containers[*].name}' 2>/dev/null); do
      kc -n "$ns" logs "$pod" -c "$c" --tail=2000 >"$dir/${pod#pod/}.$c.log" 2>&1
      kc -n "$ns" logs "$pod" -c "$c" --previous --tail=2000 >"$dir/${pod#pod/}.$c.previous.log" 2>/dev/null \
        || rm -f "$dir/${pod#pod/}.$c.previous.log"
    done
  done
done
"$HELM" --kube-context "kind-$KIND_CLUSTER" -n "$NAMESPACE" status "$RELEASE" >"$OUT/helm-status.txt" 2>&1
"$HELM" --kube-context "kind-$KIND_CLUSTER" -n "$NAMESPACE" history "$RELEASE" >"$OUT/helm-history.txt" 2>&1
if command -v kind >/dev/null 2>&1; then
  kind export logs "$OUT/kind" --name "$KIND_CLUSTER" >/dev/null 2>&1
fi
# Print the essentials where CI shows them.
tail -n 50 "$OUT/$NAMESPACE/get.txt" >&2 2>/dev/null
log "logs written to $OUT"
exit 0
