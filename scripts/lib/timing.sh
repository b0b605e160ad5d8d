# Sourced by the install scripts: `timed LABEL COMMAND...` runs the command
# and prints how long it took (or that it was already there).
timed() {
  local label=$1; shift
  local start=$SECONDS
  "$@"
  local took=$((SECONDS - start))
  if [ "$took" -eq 0 ]; then echo "  $label: ready" >&2; else echo "  $label: ready in ${took}s" >&2; fi
}
