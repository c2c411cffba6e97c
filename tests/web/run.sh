#!/usr/bin/env bash
# Browser, OpenAI-client and ollama-client tests of `qwenvl serve` on the trained demo checkpoint
# (data/demo/model).
#   tests/web/run.sh [QWENVL_BINARY]
# Exits 77 (CTest: skipped) with a message when node/npm or chromium is missing.
# Environment: SERVER_READY_TIMEOUT (seconds the server may take to listen, default 60) and
# TEST_TIMEOUT (seconds each Node script may run, default 110): backstops below CTest's 300 s for the
# whole test, so that a hung run still reports what it saw and the server's log.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
qwenvl="$(realpath "${1:-$root/build/qwenvl}")"
chromium="${CHROMIUM:-/usr/bin/chromium}"
ready_timeout="${SERVER_READY_TIMEOUT:-60}"
test_timeout="${TEST_TIMEOUT:-110}"

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
# The packages are installed once, when node_modules does not hold exactly what package-lock.json
# names (compared by content: a checkout that only touches the lock file's time installs nothing).
# The lock (on package-lock.json, which npm ci never replaces) keeps two runs at once (two build
# folders testing the same tree) from installing over each other.
installed() {
  node -e '
    const fs = require("fs");
    const want = JSON.parse(fs.readFileSync("package-lock.json")).packages;
    const have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json")).packages;
    for (const [path, p] of Object.entries(want)) {
      if (path === "" || p.optional || p.peer) continue;
      if (have[path]?.version !== p.version || have[path]?.integrity !== p.integrity) process.exit(1);
      const pkg = JSON.parse(fs.readFileSync(path + "/package.json"));
      if (pkg.version !== p.version) process.exit(1);
    }' 2> /dev/null
}
{
  if command -v flock > /dev/null; then flock 9; fi
  if ! installed; then
    echo "installing the test packages (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error
  fi
} 9< package-lock.json

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2> /dev/null; then
    kill "$server_pid" 2> /dev/null || true
    # The server drains on SIGTERM; it has nothing left to finish, so a few seconds are plenty.
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2> /dev/null || break; sleep 0.2; done
    kill -KILL "$server_pid" 2> /dev/null || true
    wait "$server_pid" 2> /dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
server_log() {
  echo "--- server log ($work/server.err)"
  cat "$work/server.err"
  echo "---"
}

model="$work/demo"
mkdir -p "$model"
cp "$root"/data/demo/model/*.json "$model/"
xz -dc "$root/data/demo/model/model.safetensors.xz" > "$model/model.safetensors"

"$qwenvl" serve -m "$model" --port 0 --parallel 2 --ctx 4096 > "$work/server.out" 2> "$work/server.err" &
server_pid=$!
# The server prints its address once it listens (after loading the model); a loaded machine may
# need a while for that, a server that exits or never listens is a failure with its log.
url=""
start=$SECONDS
while [ -z "$url" ]; do
  url="$(grep -o 'http://[^ ]*' "$work/server.out" 2> /dev/null || true)"
  [ -n "$url" ] && break
  if ! kill -0 "$server_pid" 2> /dev/null; then
    wait "$server_pid" && rc=0 || rc=$?
    server_pid=""
    server_log
    echo "FAIL: the server exited (status $rc) before it listened"
    exit 1
  fi
  if [ $((SECONDS - start)) -ge "$ready_timeout" ]; then
    server_log
    echo "FAIL: the server did not listen within $ready_timeout s"
    exit 1
  fi
  sleep 0.2
done
echo "server at $url (ready after $((SECONDS - start)) s)"

export QWENVL_URL="$url" CHROMIUM="$chromium" QWENVL_ROOT="$root" QWENVL_BINARY="$qwenvl"
export SCREENSHOT="${SCREENSHOT:-$(dirname "$qwenvl")/web_screenshot.png}"  # beside the binary, as in CTest
status=0
for script in openai_client.test.mjs ollama_client.test.mjs structured_output.test.mjs browser.test.mjs page.test.mjs grammar_oracle.test.mjs; do
  started=$SECONDS
  rc=0
  # TMPDIR: the browser's profile and temporary files go with the work folder, whatever happens.
  TMPDIR="$work" timeout -k 10 "$test_timeout" node "$script" || rc=$?
  if [ $rc -ne 0 ]; then
    status=1
    [ $rc -eq 124 ] && echo "not ok - $script did not finish within $test_timeout s"
    echo "# $script failed (status $rc) after $((SECONDS - started)) s"
  fi
done
if ! kill -0 "$server_pid" 2> /dev/null; then
  wait "$server_pid" && rc=0 || rc=$?
  server_pid=""
  echo "not ok - the server exited during the tests (status $rc)"
  status=1
fi
[ $status -eq 0 ] || server_log
exit $status
