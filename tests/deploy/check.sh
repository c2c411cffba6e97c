#!/usr/bin/env bash
# Offline checks of deploy/: both HAProxy configurations parse in the installed HAProxy (2.6 on
# Debian 12) and share their routing; deploy/k8s renders with kubectl's kustomize and every object
# is valid against the Kubernetes schemas (validate.mjs), while broken copies are refused.
#   tests/deploy/check.sh
# Exits 77 (CTest: skipped) when haproxy, kubectl or node is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
for tool in haproxy kubectl node npm; do
  command -v "$tool" > /dev/null ||
    { echo "SKIP: $tool is not installed (scripts/install-deps.sh installs it)"; exit 77; }
done
fail() { echo "FAIL: $*"; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# HAProxy: the local configuration with 1 and 3 replicas, the Kubernetes one as it is.
for n in 1 3; do
  env_vars=(QWENVL_LISTEN=127.0.0.1:18000 QWENVL_STATS=127.0.0.1:18009)
  for ((i = 1; i <= n; i++)); do env_vars+=("QWENVL_REPLICA_$i=127.0.0.1:1800$i"); done
  env "${env_vars[@]}" haproxy -c -f "$root/deploy/haproxy/haproxy.cfg" ||
    fail "deploy/haproxy/haproxy.cfg with $n replicas"
done
# Without its variables the configuration must not pass (a typo'd variable is not ignored).
if haproxy -c -f "$root/deploy/haproxy/haproxy.cfg" > /dev/null 2>&1; then
  fail "haproxy.cfg passes without QWENVL_LISTEN"
fi
# The Kubernetes configuration names in-cluster hosts: with init-addr none, -c resolves nothing.
haproxy -c -f "$root/deploy/k8s/haproxy.cfg" || fail "deploy/k8s/haproxy.cfg"
shared() { sed -n '/^global$/,/^# Requests with a key:/p' "$1" | sed 's/bind "${QWENVL_LISTEN}"/bind :8080/'; }
diff <(shared "$root/deploy/haproxy/haproxy.cfg") <(shared "$root/deploy/k8s/haproxy.cfg") ||
  fail "deploy/k8s/haproxy.cfg's global, defaults and frontend differ from deploy/haproxy's"

cd "$here"
installed() {
  node -e '
    const fs = require("fs");
    const want = JSON.parse(fs.readFileSync("package-lock.json")).packages;
    const have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json")).packages;
    for (const [path, p] of Object.entries(want)) {
      if (path === "" || p.optional || p.peer) continue;
      if (have[path]?.version !== p.version || have[path]?.integrity !== p.integrity) process.exit(1);
    }' 2> /dev/null
}
{
  if command -v flock > /dev/null; then flock 9; fi
  if ! installed; then
    echo "installing the check's packages (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error
  fi
} 9< package-lock.json

kubectl kustomize "$root/deploy/k8s" > "$work/rendered.yaml" || fail "kubectl kustomize deploy/k8s"
node validate.mjs "$work/rendered.yaml" || fail "the rendered manifests are not valid"
for kind in Namespace ConfigMap Service Deployment HorizontalPodAutoscaler PodDisruptionBudget \
  InferencePool; do
  grep -q "^kind: $kind$" "$work/rendered.yaml" || fail "no $kind rendered"
done

# The validator must refuse what the API server would: a few broken copies.
broken() {  # NAME SED_EXPRESSION
  sed "$2" "$work/rendered.yaml" > "$work/broken.yaml"
  cmp -s "$work/broken.yaml" "$work/rendered.yaml" && fail "broken copy '$1' changed nothing"
  if node validate.mjs "$work/broken.yaml" > "$work/broken.out"; then
    fail "the validator accepted a broken copy: $1"
  fi
  grep -q INVALID "$work/broken.out" || fail "no object reported invalid for: $1"
}
broken "replicas not a number" 's/replicas: 2/replicas: two/'
broken "probe port out of the schema" 's/periodSeconds: 2/periodSeconds: soon/'
broken "pool port out of range" 's/- number: 8080/- number: 70000/'
broken "pool failure mode unknown" 's/failureMode: FailOpen/failureMode: Sometimes/'
broken "HPA target not a number" 's/averageUtilization: 80/averageUtilization: high/'
printf 'apiVersion: v1\nkind: Widget\nmetadata: {name: x}\n' > "$work/unknown.yaml"
node validate.mjs "$work/unknown.yaml" > /dev/null && fail "an unknown kind passed"
printf 'a: [unclosed\n' > "$work/bad.yaml"
node validate.mjs "$work/bad.yaml" > /dev/null && fail "malformed YAML passed"
echo "deploy checks passed"
