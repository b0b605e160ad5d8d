#!/usr/bin/env bash
# Releases to a real cluster with Helm: what .github/workflows/release.yml and
# rollback.yml run, and what an operator runs by hand (docs/operations.md).
#
#   release.sh package VERSION [OUTDIR]     the chart as tasks-VERSION.tgz, its
#                                           appVersion VERSION too (default OUTDIR: dist/)
#   release.sh upgrade CHART IMAGE_TAG      helm upgrade --install CHART (a .tgz, a
#                                           directory or an oci:// reference) with every
#                                           image at IMAGE_TAG; rolls back by itself when
#                                           the release does not become ready in time
#   release.sh rollback [REVISION]          back to REVISION (default: the one before)
#   release.sh history                      the release's revisions
#
# Environment: DEPLOY_RELEASE (tasks), DEPLOY_NAMESPACE (tasks), KUBE_CONTEXT
# (the current one), IMAGE_REGISTRY (prepended to every repository, e.g.
# ghcr.io/acme), HELM_VALUES (space-separated values files, default
# helm/tasks/values-production.yaml), HELM_TIMEOUT (10m), CHART_VERSION (with
# an oci:// CHART).
set -euo pipefail
# shellcheck source=scripts/deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DEPLOY_ROOT"

HELM=$(helm_bin)
TIMEOUT="${HELM_TIMEOUT:-10m}"
read -r -a values_files <<<"${HELM_VALUES:-helm/tasks/values-production.yaml}"
scope=(--namespace "$NAMESPACE")
[ -z "${KUBE_CONTEXT:-}" ] || scope+=(--kube-context "$KUBE_CONTEXT")

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  package)
    version=${1:?usage: release.sh package VERSION [OUTDIR]}
    out=${2:-dist}
    [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || die "$version is not a SemVer version"
    mkdir -p "$out"
    "$HELM" package helm/tasks --version "$version" --app-version "$version" --destination "$out" >&2
    echo "$out/tasks-$version.tgz"
    ;;
  upgrade)
    chart=${1:?usage: release.sh upgrade CHART IMAGE_TAG}
    tag=${2:?usage: release.sh upgrade CHART IMAGE_TAG}
    args=()
    for f in "${values_files[@]}"; do args+=(-f "$f"); done
    [ -z "${IMAGE_REGISTRY:-}" ] || args+=(--set "image.registry=$IMAGE_REGISTRY")
    [ -z "${CHART_VERSION:-}" ] || args+=(--version "$CHART_VERSION")
    log "helm upgrade --install $RELEASE $chart (images $tag, namespace $NAMESPACE)"
    # --rollback-on-failure is Helm 4's name for --atomic: a release that is
    # not ready within the timeout goes back to the last good revision.
    "$HELM" upgrade --install "$RELEASE" "$chart" "${scope[@]}" "${args[@]}" \
      --set "image.tag=$tag" --rollback-on-failure --wait=watcher --wait-for-jobs --timeout "$TIMEOUT"
    "$HELM" history "$RELEASE" "${scope[@]}" --max 5
    ;;
  rollback)
    log "helm rollback $RELEASE ${1:-(previous revision)}"
    "$HELM" rollback "$RELEASE" ${1:+"$1"} "${scope[@]}" --wait=watcher --timeout "$TIMEOUT" --cleanup-on-fail
    "$HELM" history "$RELEASE" "${scope[@]}" --max 5
    ;;
  history)
    "$HELM" history "$RELEASE" "${scope[@]}"
    ;;
  *)
    sed -n '2,19p' "$0" >&2
    exit 2
    ;;
esac
