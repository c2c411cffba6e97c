#!/usr/bin/env bash
# Starts `qwenvl serve` on a model and drives it with 16 then 64 concurrent streaming clients.
#   bench/load/run.sh QWENVL_BINARY MODEL_DIR [SECONDS] [PARALLEL]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
qwenvl="$(realpath "$1")"; model="$2"; seconds="${3:-30}"; parallel="${4:-8}"
log="$(mktemp)"
"$qwenvl" serve -m "$model" --port 0 --parallel "$parallel" --queue 128 > "$log" 2>&1 &
pid=$!
trap 'kill $pid 2> /dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do grep -q "listening on" "$log" && break; sleep 0.2; done
url="$(grep -o 'http://[^ ]*' "$log")"
for clients in 16 64; do
  node "$here/load.mjs" --url "$url" --clients "$clients" --seconds "$seconds" --pid "$pid" \
    --image "$root/data/demo/scenes/scene15.png" --max-tokens 64
done
curl -s "$url/metrics" | grep -E "^qwenvl_(requests_total|generated_tokens_total|cancelled)"
