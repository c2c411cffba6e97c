#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for a short time over its corpus (make test-fuzz):
#   fuzz/run.sh BUILD_DIR [SECONDS]
# Target X_fuzz fuzzes a copy of its corpus, fuzz/corpus/X/ (or fuzz/corpus/X_fuzz/), in a scratch
# folder, so a run never changes the repository; fuzz/X_fuzz.dict is its dictionary where there is
# one. A crash, a leak, a sanitizer report, a timeout or running out of memory fails the run (after
# the other targets have had theirs), and the input that caused it is kept in
# BUILD_DIR/fuzz-artifacts/X_fuzz/.
set -euo pipefail

build=${1:?usage: fuzz/run.sh BUILD_DIR [SECONDS]}
seconds=${2:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# UBSan checks are built recoverable (-fsanitize=undefined): halt_on_error makes a report fatal.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1

status=0
for source in "$root"/fuzz/*_fuzz.cc; do
  name=$(basename "$source" .cc)
  binary=$build/fuzz/$name
  if [ ! -x "$binary" ]; then
    echo "fuzz: $binary is not built" >&2
    exit 1
  fi
  corpus=$root/fuzz/corpus/${name%_fuzz}
  [ -d "$corpus" ] || corpus=$root/fuzz/corpus/$name
  if [ ! -d "$corpus" ]; then
    echo "fuzz: no corpus for $name (fuzz/corpus/${name%_fuzz}/)" >&2
    exit 1
  fi
  work=$scratch/$name
  artifacts=$build/fuzz-artifacts/$name
  mkdir -p "$work" "$artifacts"
  cp -r "$corpus"/. "$work"/
  options=(-max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$artifacts/")
  dict=$root/fuzz/$name.dict
  if [ -f "$dict" ]; then options+=(-dict="$dict"); fi
  log=$scratch/$name.log
  start=$SECONDS
  if "$binary" "${options[@]}" "$work" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz: $name: ${runs:-?} runs in $((SECONDS - start)) s over $(ls "$corpus" | wc -l) seeds, no finding"
  else
    status=1
    echo "fuzz: $name FAILED (artifacts in $artifacts):" >&2
    tail -n 60 "$log" >&2
  fi
done
exit $status
