#!/usr/bin/env bash
# Speed and memory of the 3b preset (random weights, published shapes) at bf16 / q8 / q4, for a
# 448x448 and a 1280x960 picture, printed as a Markdown table.
#   bench/run_bench.sh [BUILD_DIR] [MODEL_DIR]
# Environment: THREADS (2), PROMPT_TOKENS (128), GEN_TOKENS (16), REPEATS (1), SIZES, PRECISIONS.
set -euo pipefail
build=${1:-build-perf}
model=${2:-/tmp/qwenvl-3b}
threads=${THREADS:-2}
prompt_tokens=${PROMPT_TOKENS:-128}
gen_tokens=${GEN_TOKENS:-16}
repeats=${REPEATS:-1}
sizes=${SIZES:-"448x448 1280x960"}
precisions=${PRECISIONS:-"bf16 q8 q4"}
qwenvl="$build/qwenvl"

if [[ ! -f "$model/config.json" ]]; then
  echo "making the 3b preset in $model (about 7.5 GB)" >&2
  "$qwenvl" make-test-model --preset 3b "$model"
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for size in $sizes; do
  for p in $precisions; do
    echo "bench $size $p ..." >&2
    "$qwenvl" bench -m "$model" --image-size "$size" --prompt-tokens "$prompt_tokens" \
      --gen-tokens "$gen_tokens" --threads "$threads" --weights "$p" --vision-weights "$p" \
      --repeats "$repeats" --json >"$out/$size-$p.json"
  done
done

echo "| image | weights | load s | vision ms | prefill tok/s | decode tok/s | MB/token | GB/s | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|---|"
for size in $sizes; do
  for p in $precisions; do
    python3 - "$out/$size-$p.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
print("| {} ({}) | {} | {:.1f} | {:.0f} | {:.1f} | {:.2f} | {:.0f} | {:.2f} | {:.0f} |".format(
    j["image"]["asked"], j["image"]["resized"], j["weights"], j["load_s"],
    j["vision_ms"]["median"], j["prefill_tokens_per_s"]["median"],
    j["decode_tokens_per_s"]["median"], j["weight_bytes_per_token"] / 1e6,
    j["effective_gb_per_s"]["median"], j["peak_rss_mib"]))
PY
  done
done
echo
echo "threads $threads, prompt $prompt_tokens tokens, $gen_tokens decoded, $repeats repeat(s); medians"
