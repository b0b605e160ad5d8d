#!/usr/bin/env bash
# Deletes the kind cluster of the end-to-end suite (no-op if it is gone).
# Environment: KIND_CLUSTER (tasks).
set -euo pipefail
# shellcheck source=scripts/deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need kind
if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
  kind delete cluster --name "$KIND_CLUSTER"
else
  log "no kind cluster $KIND_CLUSTER"
fi
