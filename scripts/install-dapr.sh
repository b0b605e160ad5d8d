#!/usr/bin/env bash
# Builds the real Dapr runtime from the Go module proxy, idempotently:
#   daprd, scheduler <- tools/dapr (github.com/dapr/dapr v1.18.3 with only the
#                       components this project uses; see tools/dapr/README.md)
# and links them into .tools/bin. The binaries are kept in a cache outside the
# clone ($TASKS_CACHE, default ~/.cache/tasks-platform), keyed by everything
# that goes into them, so a fresh clone on the same machine links instead of
# building; Go's own module and build caches (GOMODCACHE, GOCACHE) make a
# rebuild after a change cheap. A cold build takes a few minutes on 2 cores.
#
# The Dapr CLI is not built: the Go module proxy serves no version of
# github.com/dapr/cli (403), so `make dev` runs dev/dapr.yaml with the
# project's launcher (dev/launcher). A Dapr CLI installed elsewhere finds this
# daprd with DAPR_RUNTIME_PATH=$PWD/.tools/dapr-runtime.
#
# Usage: scripts/install-dapr.sh            builds what is missing
#        scripts/install-dapr.sh --print    prints the cache directory of this build
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/timing.sh"

DAPR_VERSION=1.18.3
cache=${TASKS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tasks-platform}
src="$root/tools/dapr"
key=$(cat "$src/go.mod" "$src/go.sum" "$src"/*/*.go | sha256sum | cut -c1-16)
out="$cache/dapr-$DAPR_VERSION-$key"
if [ "${1:-}" = --print ]; then echo "$out"; exit 0; fi

command -v go >/dev/null || { echo "install-dapr: Go is needed (go 1.26 or newer)" >&2; exit 1; }

build_runtime() {
  [ -x "$out/daprd" ] && [ -x "$out/scheduler" ] && return 0
  mkdir -p "$out.tmp"
  # -mod=mod resolves only what these two commands import (go mod tidy would
  # fetch the module graph of every Dapr component); go.sum is committed.
  local ld="-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$DAPR_VERSION -X github.com/dapr/dapr/pkg/buildinfo.gitversion=v$DAPR_VERSION"
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ld" -o "$out.tmp/daprd" ./daprd \
     && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ld" -o "$out.tmp/scheduler" ./scheduler)
  rm -rf "$out" && mv "$out.tmp" "$out"
}

timed "daprd and scheduler $DAPR_VERSION" build_runtime

mkdir -p "$root/.tools/bin" "$root/.tools/dapr-runtime/.dapr/bin"
ln -sfn "$out/daprd" "$root/.tools/bin/daprd"
ln -sfn "$out/scheduler" "$root/.tools/bin/scheduler"
ln -sfn "$out/daprd" "$root/.tools/dapr-runtime/.dapr/bin/daprd"
