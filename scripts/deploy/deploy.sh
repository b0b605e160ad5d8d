#!/usr/bin/env bash
# Loads the locally built images into the kind cluster and installs/upgrades
# the chart with values-kind.yaml, waiting until every Deployment is ready
# (the migration hook runs first). Run `make images kind-up` before.
# On failure it prints what the cluster knows (scripts/deploy/collect-logs.sh).
#
# Environment: KIND_CLUSTER (tasks), DEPLOY_NAMESPACE (tasks), DEPLOY_RELEASE (tasks),
# IMAGE_BINS (every service and migrate), IMAGE_PREFIX (tasks), IMAGE_TAG (dev), WAIT_TIMEOUT (600s).
set -euo pipefail
# shellcheck source=scripts/deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DEPLOY_ROOT"

IMAGE_PREFIX="${IMAGE_PREFIX:-tasks}"
IMAGE_TAG="${IMAGE_TAG:-dev}"
WAIT_TIMEOUT="${WAIT_TIMEOUT:-600s}"
read -r -a bins <<<"${IMAGE_BINS:-task recurrence reminder notification audit sync-gateway migrate}"

need docker
need kind
HELM=$(helm_bin)
KUBECTL=$(kubectl_bin)

kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER" || die "no kind cluster $KIND_CLUSTER: run make kind-up"

for bin in "${bins[@]}"; do
  image="$IMAGE_PREFIX/$bin:$IMAGE_TAG"
  docker image inspect "$image" >/dev/null 2>&1 || die "image $image not found: run make images"
  log "kind load $image"
  kind load docker-image "$image" --name "$KIND_CLUSTER"
done

on_failure() {
  log "deploy failed; cluster state follows"
  "$DEPLOY_ROOT/scripts/deploy/collect-logs.sh" || true
}
trap on_failure ERR

log "helm upgrade --install $RELEASE (namespace $NAMESPACE)"
"$HELM" upgrade --install "$RELEASE" helm/tasks --kube-context "kind-$KIND_CLUSTER" \
  --namespace "$NAMESPACE" --create-namespace \
  -f helm/tasks/values-kind.yaml \
  --set image.tag="$IMAGE_TAG" \
  --wait --timeout "$WAIT_TIMEOUT"

# Belt and braces: every Deployment of the release rolled out, sidecars included.
for dep in $(kc -n "$NAMESPACE" get deployments -l "app.kubernetes.io/instance=$RELEASE" -o name); do
  kc -n "$NAMESPACE" rollout status "$dep" --timeout "$WAIT_TIMEOUT"
done
kc -n "$NAMESPACE" get pods -l "app.kubernetes.io/instance=$RELEASE" -o wide
log "deployed"
