#!/usr/bin/env bash
# Several `qwenvl serve` replicas on loopback ports behind HAProxy, on one machine: how to try the
# scale-out setup (deploy/haproxy/haproxy.cfg) and how the tests run it.
#
#   deploy/local-cluster.sh --replicas N --model DIR --port P [--run-dir D] [--qwenvl BIN]
#                           [--drain-delay S] [--round-robin] [-- SERVE_OPTIONS...]
#
# HAProxy listens on 127.0.0.1:P, replica I (1..N) on 127.0.0.1:P+I, HAProxy's stats and Prometheus
# metrics on 127.0.0.1:P+N+1. Each replica is started by D/replica-I.sh (run it again to restart
# one: it writes its pid), logs to D/replica-I.log and has its pid in D/replica-I.pid; HAProxy's
# is D/haproxy.pid and its log D/haproxy.log. One line is printed when HAProxy's health checks have every replica up;
# SIGTERM or SIGINT stops everything (the replicas drain). Options after -- go to every
# `qwenvl serve` (e.g. -- --threads 1 --parallel 2). --round-robin: requests without an affinity key
# go round-robin instead of to the least loaded replica (for comparisons).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
replicas=""; model=""; port=""; run_dir=""; drain_delay=2
qwenvl="$(command -v qwenvl || true)"
[[ -x "$here/../build/qwenvl" ]] && qwenvl="$here/../build/qwenvl"
serve_args=()
usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
  case "$1" in
    --replicas) replicas="${2:-}"; shift 2 ;;
    --model) model="${2:-}"; shift 2 ;;
    --port) port="${2:-}"; shift 2 ;;
    --run-dir) run_dir="${2:-}"; shift 2 ;;
    --qwenvl) qwenvl="${2:-}"; shift 2 ;;
    --drain-delay) drain_delay="${2:-}"; shift 2 ;;
    --round-robin) export QWENVL_ROUND_ROBIN=1; shift ;;
    --) shift; serve_args=("$@"); break ;;
    -h|--help) usage ;;
    *) echo "local-cluster: unknown option $1" >&2; usage ;;
  esac
done
[[ "$replicas" =~ ^[1-8]$ ]] || { echo "local-cluster: --replicas must be 1..8 (haproxy.cfg lists 8)" >&2; exit 2; }
[[ "$port" =~ ^[0-9]+$ ]] && ((port >= 1024 && port + replicas + 1 <= 65535)) ||
  { echo "local-cluster: --port must leave room for the replicas' ports (1024..65535)" >&2; exit 2; }
[[ -d "$model" ]] || { echo "local-cluster: --model: no folder $model" >&2; exit 2; }
[[ -x "$qwenvl" ]] || { echo "local-cluster: no qwenvl binary (give --qwenvl BIN)" >&2; exit 2; }
command -v haproxy > /dev/null || { echo "local-cluster: haproxy is not installed" >&2; exit 2; }
[[ -n "$run_dir" ]] || run_dir="$(mktemp -d)"
mkdir -p "$run_dir"
run_dir="$(cd "$run_dir" && pwd)"
model="$(cd "$model" && pwd)"
qwenvl="$(realpath "$qwenvl")"

port_free() { ! (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }
for ((p = port; p <= port + replicas + 1; p++)); do
  port_free "$p" || { echo "local-cluster: port $p is in use" >&2; exit 1; }
done

stop_all() {
  trap - TERM INT EXIT
  local f pid
  for f in "$run_dir"/replica-*.pid "$run_dir"/haproxy.pid; do
    [[ -f "$f" ]] || continue
    pid="$(cat "$f")"
    kill -TERM "$pid" 2> /dev/null || true
  done
  for f in "$run_dir"/replica-*.pid "$run_dir"/haproxy.pid; do
    [[ -f "$f" ]] || continue
    pid="$(cat "$f")"
    # Drain delay plus running requests; then stop for good.
    for _ in $(seq 1 150); do kill -0 "$pid" 2> /dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2> /dev/null || true
    rm -f "$f"
  done
}
trap 'stop_all; exit 0' TERM INT
trap 'stop_all' EXIT

export QWENVL_LISTEN="127.0.0.1:$port" QWENVL_STATS="127.0.0.1:$((port + replicas + 1))"
for ((i = 1; i <= replicas; i++)); do
  export "QWENVL_REPLICA_$i=127.0.0.1:$((port + i))"
  # The replica's start script: the cluster starts it, a rolling restart runs it again.
  {
    echo '#!/usr/bin/env bash'
    printf 'echo $$ > %q\n' "$run_dir/replica-$i.pid"
    printf 'exec %q serve -m %q --host 127.0.0.1 --port %d --instance-name replica-%d' \
      "$qwenvl" "$model" "$((port + i))" "$i"
    printf ' --drain-delay %q' "$drain_delay"
    for a in "${serve_args[@]}"; do printf ' %q' "$a"; done
    printf ' >> %q 2>&1\n' "$run_dir/replica-$i.log"
  } > "$run_dir/replica-$i.sh"
  chmod +x "$run_dir/replica-$i.sh"
  setsid "$run_dir/replica-$i.sh" < /dev/null &
  echo $! > "$run_dir/replica-$i.pid"  # the script writes the same (exec keeps the pid)
done
haproxy -db -f "$here/haproxy/haproxy.cfg" > "$run_dir/haproxy.log" 2>&1 < /dev/null &
echo $! > "$run_dir/haproxy.pid"

# Ready: HAProxy's health checks have every replica up, in both backends (the model load takes
# the time; a replica that answers /health is in after two good checks).
ready() {
  local up
  up="$(curl -sf --max-time 2 "http://$QWENVL_STATS/;csv" |
    awk -F, '$1 ~ /^replicas/ && $2 ~ /^replica[0-9]+$/ && $18 ~ /^UP/' | wc -l)" || return 1
  ((up == 2 * replicas))
}
until ready; do
  for f in "$run_dir"/replica-*.pid "$run_dir/haproxy.pid"; do
    kill -0 "$(cat "$f")" 2> /dev/null ||
      { echo "local-cluster: $(basename "$f" .pid) exited; see its log in $run_dir" >&2; exit 1; }
  done
  sleep 0.2
done
echo "local-cluster: $replicas replicas ready behind http://127.0.0.1:$port (run dir $run_dir)"
# Wait for a signal (the trap stops everything); `wait` returns when one arrives.
while :; do sleep 3600 & wait $! || true; done
