#!/usr/bin/env bash
# Runs the fuzz targets of fuzz/ with cargo fuzz, each for a while, and
# prints how many inputs each ran. A crash, or one input taking over 10 s,
# fails the script and leaves the input in fuzz/artifacts/. `make test` runs
# them briefly, `make fuzz` long.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    default 15 s, every target
#
# No sanitizer (`-s none`): the code is safe Rust and the fuzzers hunt
# panics. cargo fuzz passes nightly-only flags; RUSTC_BOOTSTRAP=1 lets the
# stable toolchain take them. Short runs use debug builds (`--dev`, quick to
# build, overflow checks on); runs of a minute or more use release builds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/timing.sh"
cache=${TASKS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tasks-platform}
export PATH="$cache/cargo-fuzz/bin:$PATH"
install() { cargo fuzz --version >/dev/null 2>&1 || cargo install --locked --root "$cache/cargo-fuzz" cargo-fuzz; }
timed "cargo-fuzz" install

seconds=${1:-15}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(query page_token recurrence cloud_event app_callback)
profile=(--dev)
[ "$seconds" -ge 60 ] && profile=()
export RUSTC_BOOTSTRAP=1
# Instrumented builds never mix with the normal ones.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}/fuzz"
cd "$root/fuzz"
build() { cargo fuzz build "${profile[@]}" -s none >&2; }
timed "fuzz targets" build
for target in "${targets[@]}"; do
  corpus=$(mktemp -d)
  # A target without committed seeds starts from nothing (git keeps no empty folder).
  mkdir -p "seeds/$target"
  log=$(mktemp)
  if ! cargo fuzz run "${profile[@]}" -s none "$target" "$corpus" "seeds/$target" -- \
      -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "FUZZ $target FAILED (the input is in fuzz/artifacts/$target/)" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  echo "FUZZ $target runs=${runs:-?} seconds=$seconds crashes=0"
  rm -rf "$corpus" "$log"
done
