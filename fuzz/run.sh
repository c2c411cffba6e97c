#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for a short time over its corpus (make test-fuzz):
#   fuzz/run.sh BUILD_DIR [SECONDS] [PARALLEL]
# Target X_fuzz fuzzes a copy of its corpus, fuzz/corpus/X/ (or fuzz/corpus/X_fuzz/), in a scratch
# folder, so a run never changes the repository; fuzz/X_fuzz.dict is its dictionary where there is
# one. PARALLEL targets (default: one per core) run at once, each on one core. A crash, a leak, a
# sanitizer report, a timeout or running out of memory fails the run (after the other targets
# have had theirs), and the input that caused it is kept in BUILD_DIR/fuzz-artifacts/X_fuzz/.
set -euo pipefail

build=$(cd "${1:?usage: fuzz/run.sh BUILD_DIR [SECONDS] [PARALLEL]}" && pwd)
seconds=${2:-30}
parallel=${3:-$(nproc)}
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# UBSan checks are built recoverable (-fsanitize=undefined): halt_on_error makes a report fatal.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1

names=()
for source in "$root"/fuzz/*_fuzz.cc; do
  name=$(basename "$source" .cc)
  if [ ! -x "$build/fuzz/$name" ]; then
    echo "fuzz: $build/fuzz/$name is not built" >&2
    exit 1
  fi
  corpus=$root/fuzz/corpus/${name%_fuzz}
  [ -d "$corpus" ] || corpus=$root/fuzz/corpus/$name
  if [ ! -d "$corpus" ]; then
    echo "fuzz: no corpus for $name (fuzz/corpus/${name%_fuzz}/)" >&2
    exit 1
  fi
  mkdir -p "$scratch/$name"
  cp -r "$corpus"/. "$scratch/$name/"
  names+=("$name")
done

# Fuzzes one target; its outcome goes to $scratch/NAME.ok or NAME.failed, its output to NAME.log.
run_one() {
  local name=$1 artifacts=$build/fuzz-artifacts/$1 start=$SECONDS
  local seeds
  seeds=$(find "$scratch/$name" -type f | wc -l)
  mkdir -p "$artifacts"
  local options=(-max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$artifacts/")
  if [ -f "$root/fuzz/$name.dict" ]; then options+=(-dict="$root/fuzz/$name.dict"); fi
  if "$build/fuzz/$name" "${options[@]}" "$scratch/$name" >"$scratch/$name.log" 2>&1; then
    local runs
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$name.log")
    echo "fuzz: $name: ${runs:-?} runs in $((SECONDS - start)) s from $seeds seeds, no finding" \
      >"$scratch/$name.ok"
  else
    echo "fuzz: $name FAILED (the input is in $artifacts/):" >"$scratch/$name.failed"
  fi
}

for name in "${names[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do wait -n || true; done
  run_one "$name" &
done
wait

status=0
for name in "${names[@]}"; do
  if [ -f "$scratch/$name.ok" ]; then
    cat "$scratch/$name.ok"
  else
    status=1
    cat "$scratch/$name.failed" >&2 2>/dev/null || echo "fuzz: $name did not finish" >&2
    tail -n 60 "$scratch/$name.log" >&2
  fi
done
exit $status
