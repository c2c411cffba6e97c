#!/bin/sh
# Runs bench/preprocess_bench (C++) and bench/pil_preprocess.py (PIL + numpy) on the same photos at
# the default budget, one after the other on this machine, and prints the speed ratios.
# Usage: bench/preprocess_compare.sh [BUILD_DIR]   (default: build)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
bench="$build/bench/preprocess_bench"
[ -x "$bench" ] || { echo "missing $bench: build the preprocess_bench target" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bench" --benchmark_filter='BM_Preprocess' --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true --benchmark_format=json >"$tmp/cpp.json" 2>/dev/null
/usr/bin/python3 "$root/bench/pil_preprocess.py" --reps 10 >"$tmp/pil.jsonl"
/usr/bin/python3 - "$tmp/cpp.json" "$tmp/pil.jsonl" <<'PY'
import json, sys
cpp = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    parts = b["run_name"].split("/")
    cpp[(parts[1], parts[2])] = (b["real_time"], b["cpu_time"])  # ms
pil = [json.loads(l) for l in open(sys.argv[2])]
# Single thread: CPU time of both sides (robust on a loaded machine); the 2-thread run can only be
# judged by wall time, which needs an otherwise idle machine.
print(f"{'photo':28s} {'patches':>7s} | {'CPU ms: PIL':>11s} {'qwenvl':>7s} {'ratio':>6s} | "
      f"{'wall ms: PIL':>12s} {'1T':>7s} {'ratio':>6s} {'2T':>7s} {'ratio':>6s}")
sums = [0.0, 0.0, 0.0]
for p in pil:
    w1, c1 = cpp[(p["photo"], "threads:1")]
    w2, _ = cpp[(p["photo"], "threads:2")]
    r = (p["cpu_ms_median"] / c1, p["ms_median"] / w1, p["ms_median"] / w2)
    sums = [a + b for a, b in zip(sums, r)]
    print(f"{p['photo']:28s} {p['patches']:7d} | {p['cpu_ms_median']:11.1f} {c1:7.1f} {r[0]:5.2f}x | "
          f"{p['ms_median']:12.1f} {w1:7.1f} {r[1]:5.2f}x {w2:7.1f} {r[2]:5.2f}x")
n = len(pil)
print(f"mean speed-up over PIL+numpy: {sums[0] / n:.2f}x (CPU time, one thread); wall time "
      f"{sums[1] / n:.2f}x on one thread, {sums[2] / n:.2f}x with two")
PY
