#!/usr/bin/env bash
# Replicas behind HAProxy (deploy/local-cluster.sh), driven by the load tool twice: conversations
# with affinity (X-Session-Id), and without: least connections, then round-robin. Each conversation has T turns about
# one of the demo pictures; the report gives requests/s, p50/p99 latency, errors, the answering
# replicas, and how many pictures were not encoded again (vision cache or reused KV prefix).
#   bench/load/cluster.sh QWENVL_BINARY MODEL_DIR [REPLICAS] [CLIENTS] [SECONDS] [TURNS] [-- SERVE_OPTIONS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
qwenvl="$(realpath "$1")"; model="$2"; replicas="${3:-3}"; clients="${4:-6}"; seconds="${5:-30}"
turns="${6:-3}"
shift $(($# < 6 ? $# : 6)); [[ "${1:-}" == "--" ]] && shift
serve_args=("$@"); ((${#serve_args[@]})) || serve_args=(--threads 1 --parallel 2)
# A fresh cluster for each run: both start with empty caches.
run() {  # AFFINITY [--round-robin]
  local port=$((20000 + RANDOM % 30000)) run_dir cluster metrics="" i
  run_dir="$(mktemp -d)"
  "$root/deploy/local-cluster.sh" --replicas "$replicas" --model "$model" --port "$port" \
    --run-dir "$run_dir" --qwenvl "$qwenvl" ${2:-} -- "${serve_args[@]}" > "$run_dir/cluster.out" 2>&1 &
  cluster=$!
  until grep -q "replicas ready" "$run_dir/cluster.out"; do
    kill -0 $cluster 2> /dev/null || { cat "$run_dir/cluster.out"; return 1; }
    sleep 0.2
  done
  for ((i = 1; i <= replicas; i++)); do
    metrics+="${metrics:+,}http://127.0.0.1:$((port + i))/metrics"
  done
  echo "affinity: $1 ${2:-}"
  node "$here/load.mjs" --url "http://127.0.0.1:$port" --clients "$clients" --seconds "$seconds" \
    --images "$root/data/demo/scenes" --turns "$turns" --affinity "$1" --max-tokens 16 \
    --metrics "$metrics"
  kill -TERM $cluster
  wait $cluster || true
  rm -rf "$run_dir"
}
run header
run none
run none --round-robin
