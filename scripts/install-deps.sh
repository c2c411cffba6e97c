#!/usr/bin/env bash
# Installs every Debian package the build, the tests, the benchmarks and the fuzzers need.
# Idempotent: packages already present are left alone. Needs root (or sudo).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git xz-utils
  clang-14 libclang-rt-14-dev clang-format
  clang-format-14  # the one version scripts/check-format.sh runs
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev time
  # core libraries
  nlohmann-json3-dev libcli11-dev libhwy-dev libonig-dev libutf8proc-dev
  # media
  libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
  # server
  # server: HTTP/1.1 on Boost.Beast over Boost.Asio (one event loop, our own sockets and deadlines),
  # Boost.URL for parsing remote media URLs, OpenSSL for https fetches
  libboost1.81-dev libboost-url1.81-dev libssl-dev
  # browser tests of the web page (tests/web, driven by Playwright); Node.js below
  chromium
  # scale-out (deploy/, tests/deploy): HAProxy in front of the replicas (local-cluster.sh, the
  # cluster test), curl for their health checks
  haproxy curl
  # reference comparisons in benchmarks (PIL + numpy)
  python3 python3-pil python3-numpy
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js and npm: a machine may already carry them from another source (NodeSource's nodejs
# bundles npm, and Debian's npm package then cannot be installed beside it), so the commands
# are checked, not the package names.
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
# kubectl renders deploy/k8s with its kustomize (tests/deploy/check.sh): Debian's kubernetes-client
# unless a kubectl from elsewhere is there (the two cannot be installed together).
if ! command -v kubectl >/dev/null 2>&1; then missing+=(kubernetes-client); fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
