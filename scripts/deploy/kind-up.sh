#!/usr/bin/env bash
# Creates (or reuses) the kind cluster of the end-to-end suite and installs
# what the chart expects to find: Dapr (control plane incl. scheduler),
# Redpanda, PostgreSQL, the topics, and the Secrets of values-kind.yaml.
# Idempotent: run it again and it only fills in what is missing; Secrets
# that exist keep their (random) values.
#
# Needs: docker, kind, kubectl (or .tools/bin/kubectl), helm (or .tools/bin/helm).
# Environment: KIND_CLUSTER (tasks), DEPLOY_NAMESPACE (tasks), DAPR_VERSION (1.18.3),
# KIND_NODE_IMAGE (kind's default), WAIT_TIMEOUT (600s).
set -euo pipefail
# shellcheck source=scripts/deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DEPLOY_ROOT"

DAPR_VERSION="${DAPR_VERSION:-1.18.3}"
WAIT_TIMEOUT="${WAIT_TIMEOUT:-600s}"
TOPICS=(task-events reminders task-events-dlq reminders-dlq notifications-dlq)

need docker
need kind "https://kind.sigs.k8s.io"
HELM=$(helm_bin)
KUBECTL=$(kubectl_bin)

random_secret() {
  if command -v openssl >/dev/null 2>&1; then openssl rand -hex 24; else python3 -c 'import secrets; print(secrets.token_hex(24))'; fi
}

# Value of key $3 of secret $2 in namespace $1, or empty.
secret_value() {
  kc -n "$1" get secret "$2" -o "jsonpath={.data.$3}" 2>/dev/null | base64 -d 2>/dev/null || true
}

# Creates or updates a generic secret: apply_secret NS NAME key=value...
apply_secret() {
  local ns=$1 name=$2
  shift 2
  local args=()
  for kv in "$@"; do args+=(--from-literal="$kv"); done
  kc -n "$ns" create secret generic "$name" "${args[@]}" --dry-run=client -o yaml | kc apply -f - >/dev/null
}

log "kind cluster $KIND_CLUSTER"
if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
  log "cluster exists, reusing it"
else
  kind create cluster --name "$KIND_CLUSTER" --config deploy/kind/cluster.yaml \
    ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"} --wait 180s
fi
kc cluster-info >/dev/null

log "Dapr $DAPR_VERSION (dapr/dapr chart, scheduler included)"
"$HELM" repo add dapr https://dapr.github.io/helm-charts/ --force-update >/dev/null
"$HELM" repo update dapr >/dev/null
"$HELM" upgrade --install dapr dapr/dapr --kube-context "kind-$KIND_CLUSTER" \
  --version "$DAPR_VERSION" --namespace dapr-system --create-namespace \
  --set global.ha.enabled=false \
  --set global.logAsJson=true \
  --set dapr_sidecar_injector.sidecarDropALLCapabilities=true \
  --set dapr_scheduler.cluster.inMemoryStorage=true \
  --wait --timeout "$WAIT_TIMEOUT"
kc -n dapr-system wait --for=condition=Available deployment --all --timeout "$WAIT_TIMEOUT"
for sts in $(kc -n dapr-system get statefulsets -o name); do
  kc -n dapr-system rollout status "$sts" --timeout "$WAIT_TIMEOUT"
done

log "PostgreSQL"
kc create namespace postgres --dry-run=client -o yaml | kc apply -f - >/dev/null
pg_password=$(secret_value postgres postgres-auth password)
[ -n "$pg_password" ] || pg_password=$(random_secret)
apply_secret postgres postgres-auth "password=$pg_password"
kc apply -f deploy/kind/postgres.yaml >/dev/null
kc -n postgres rollout status statefulset/postgres --timeout "$WAIT_TIMEOUT"

log "Redpanda"
kc apply -f deploy/kind/redpanda.yaml >/dev/null
kc -n redpanda rollout status statefulset/redpanda --timeout "$WAIT_TIMEOUT"
deadline=$((SECONDS + 180))
rpk() { kc -n redpanda exec redpanda-0 -c redpanda -- rpk "$@" -X brokers=127.0.0.1:9093 -X admin.hosts=127.0.0.1:9644; }
until rpk cluster health 2>/dev/null | grep -Eq 'Healthy:[[:space:]]+true'; do
  [ "$SECONDS" -lt "$deadline" ] || die "Redpanda did not become healthy"
  sleep 3
done
for topic in "${TOPICS[@]}"; do
  if rpk topic describe "$topic" >/dev/null 2>&1; then
    continue
  fi
  rpk topic create "$topic" --partitions 3 --replicas 1 >/dev/null
  log "topic $topic created"
done

log "namespace $NAMESPACE and the Secrets of values-kind.yaml"
kc create namespace "$NAMESPACE" --dry-run=client -o yaml | kc apply -f - >/dev/null
database_url="postgres://tasks:${pg_password}@postgres.postgres.svc.cluster.local:5432/tasks?sslmode=disable"
apply_secret "$NAMESPACE" tasks-db "url=$database_url"
hs256=$(secret_value "$NAMESPACE" tasks-auth hs256-secret)
page=$(secret_value "$NAMESPACE" tasks-auth page-token-secret)
apply_secret "$NAMESPACE" tasks-auth "hs256-secret=${hs256:-$(random_secret)}" "page-token-secret=${page:-$(random_secret)}"
app_token=$(secret_value "$NAMESPACE" tasks-dapr-app-token token)
apply_secret "$NAMESPACE" tasks-dapr-app-token "token=${app_token:-$(random_secret)}"
smtp_password=$(secret_value "$NAMESPACE" tasks-smtp password)
# No mail server in kind: the email binding's host does not resolve; only
# notification (not deployed yet) loads it.
apply_secret "$NAMESPACE" tasks-smtp "host=smtp.invalid" "port=587" "user=tasks" "password=${smtp_password:-$(random_secret)}"

log "kind cluster $KIND_CLUSTER is ready (context kind-$KIND_CLUSTER)"
