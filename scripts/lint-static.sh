#!/usr/bin/env bash
# Static checks beside clippy (part of `make lint` and `make test`):
#   1. actionlint on .github/workflows (with shellcheck on their scripts);
#   2. buf lint on proto/ (rules and their exceptions in buf.yaml);
#   3. buf breaking: proto/ against the main branch (BUF_AGAINST to compare
#      with something else, e.g. `.git#ref=refs/remotes/origin/main,subdir=proto`
#      in a CI checkout; skipped with a note when there is nothing to compare).
# The tools are installed into .tools/bin when missing (scripts/install-tools.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-tools.sh actionlint buf
# shellcheck from the deploy checks' venv, when there, checks the workflows' scripts.
export PATH="$root/.tools/bin:$root/.tools/venv/bin:$PATH"

echo "== actionlint"
actionlint
echo "== buf lint"
buf lint
against=${BUF_AGAINST:-}
if [ -z "$against" ] && git rev-parse --verify --quiet refs/heads/main >/dev/null; then
  against=".git#branch=main,subdir=proto"
fi
if [ -n "$against" ]; then
  echo "== buf breaking against $against"
  buf breaking proto --against "$against"
else
  echo "== buf breaking: no main branch here and BUF_AGAINST unset; skipped"
fi
