#!/usr/bin/env bash
# Three replicas of the demo model behind HAProxy on loopback ports (deploy/local-cluster.sh),
# tested by cluster.test.mjs: affinity, the vision cache, bounded load, kill -9 and a rolling restart.
#   tests/deploy/cluster_test.sh QWENVL_BINARY MODEL_DIR
# Exits 77 (CTest: skipped) without haproxy, node or curl. CLUSTER_READY_TIMEOUT (seconds the
# replicas may take to load, default 120).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
qwenvl="$(realpath "$1")"; model="$2"
replicas=3
for tool in haproxy node curl; do
  command -v "$tool" > /dev/null ||
    { echo "SKIP: $tool is not installed (scripts/install-deps.sh installs it)"; exit 77; }
done
[[ -x "$qwenvl" ]] || { echo "FAIL: $qwenvl is not built"; exit 1; }
[[ -d "$model" ]] || { echo "FAIL: no model folder $model"; exit 1; }

# A base port with the next replicas+1 free too (HAProxy, the replicas, HAProxy's stats).
port_free() { ! (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }
port=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 30000))
  ok=1
  for ((q = p; q <= p + replicas + 1; q++)); do port_free "$q" || { ok=0; break; }; done
  if ((ok)); then port=$p; break; fi
done
[[ -n "$port" ]] || { echo "FAIL: no free ports"; exit 1; }

run_dir="$(mktemp -d)"
cluster_pid=""
cleanup() {
  local rc=$?
  if [[ -n "$cluster_pid" ]]; then
    kill -TERM "$cluster_pid" 2> /dev/null || true
    wait "$cluster_pid" 2> /dev/null || true
  fi
  if ((rc != 0)); then
    for f in "$run_dir"/*.log; do echo "--- $(basename "$f") (last lines)"; tail -n 25 "$f"; done
  fi
  rm -rf "$run_dir"
}
trap cleanup EXIT
# One thread and two sequences per replica: three replicas share a 2-core machine. A short drain
# delay: HAProxy checks every second, and the replica keeps serving until it closes its port.
"$root/deploy/local-cluster.sh" --replicas "$replicas" --model "$model" --port "$port" \
  --run-dir "$run_dir" --qwenvl "$qwenvl" --drain-delay 2 -- --threads 1 --parallel 2 \
  > "$run_dir/cluster.out" 2>&1 &
cluster_pid=$!
ready_timeout="${CLUSTER_READY_TIMEOUT:-120}"
for ((t = 0; t < ready_timeout * 5; t++)); do
  grep -q "replicas ready" "$run_dir/cluster.out" && break
  kill -0 "$cluster_pid" 2> /dev/null || { cat "$run_dir/cluster.out"; echo "FAIL: the cluster did not start"; exit 1; }
  sleep 0.2
done
grep -q "replicas ready" "$run_dir/cluster.out" || { echo "FAIL: not ready in $ready_timeout s"; exit 1; }
cat "$run_dir/cluster.out"
CLUSTER_URL="http://127.0.0.1:$port" RUN_DIR="$run_dir" REPLICAS="$replicas" \
  timeout 240 node "$here/cluster.test.mjs"
