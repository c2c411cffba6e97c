#!/usr/bin/env bash
# Browser and OpenAI-client tests of `qwenvl serve` on the trained demo checkpoint (data/demo/model).
#   tests/web/run.sh [QWENVL_BINARY]
# Exits 77 (CTest: skipped) with a message when node/npm or chromium is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
qwenvl="$(realpath "${1:-$root/build/qwenvl}")"
chromium="${CHROMIUM:-/usr/bin/chromium}"

for tool in node npm; do
  if ! command -v "$tool" > /dev/null; then
    echo "SKIP: $tool is not installed (scripts/install-deps.sh installs it)"; exit 77
  fi
done
if [ ! -x "$chromium" ]; then
  echo "SKIP: $chromium is missing (Debian package chromium; scripts/install-deps.sh)"; exit 77
fi
[ -x "$qwenvl" ] || { echo "FAIL: $qwenvl is not built"; exit 1; }

cd "$here"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2> /dev/null || true; wait "$server_pid" 2> /dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

model="$work/demo"
mkdir -p "$model"
cp "$root"/data/demo/model/*.json "$model/"
xz -dc "$root/data/demo/model/model.safetensors.xz" > "$model/model.safetensors"

"$qwenvl" serve -m "$model" --port 0 --parallel 2 --ctx 4096 > "$work/server.out" 2> "$work/server.err" &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$work/server.out" 2> /dev/null && break
  kill -0 "$server_pid" 2> /dev/null || { cat "$work/server.err"; echo "FAIL: server exited"; exit 1; }
  sleep 0.2
done
url="$(grep -o 'http://[^ ]*' "$work/server.out")"
echo "server at $url"

export QWENVL_URL="$url" CHROMIUM="$chromium" QWENVL_ROOT="$root"
export SCREENSHOT="${SCREENSHOT:-$root/build-web-screenshot.png}"
status=0
node openai_client.test.mjs || status=1
node browser.test.mjs || status=1
if [ $status -ne 0 ]; then echo "--- server log"; tail -20 "$work/server.err"; fi
exit $status
