#!/usr/bin/env bash
# Installs the Debian packages qwenvl needs. Idempotent: packages already present are left alone.
# Needs root (or sudo).
#   scripts/install-deps.sh          everything: building, the tests, the benchmarks, the fuzzers
#   scripts/install-deps.sh --demo   only what building qwenvl and running it needs (make demo)
set -euo pipefail

# Building and running qwenvl.
build_packages=(
  # toolchain (build-essential brings dpkg-dev: dpkg-shlibdeps for the Debian package's Depends)
  build-essential cmake ninja-build pkg-config xz-utils
  # core libraries
  nlohmann-json3-dev libcli11-dev libhwy-dev libonig-dev libutf8proc-dev
  # line editing and history of `qwenvl chat`
  libedit-dev
  # media
  libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
  # server: HTTP/1.1 on Boost.Beast over Boost.Asio (one event loop, our own sockets and deadlines),
  # Boost.URL for parsing remote media URLs, OpenSSL for https fetches
  libboost1.81-dev libboost-url1.81-dev libssl-dev
  # qwenvl pull: the Hugging Face hub over https (redirects, Range resume, connection reuse)
  libcurl4-openssl-dev
  # the quantized-weight cache: XXH3 checksums of its files, verified at each load
  libxxhash-dev
)

# The tests, the checks, the benchmarks and the fuzzers. Node.js and npm (checked by command
# below) also fetch the web page's markdown libraries at build time (src/server/web/package.json).
test_packages=(
  git
  # sanitizer and fuzz builds (clang), the formatting check
  clang-14 libclang-rt-14-dev clang-format
  clang-format-14  # the one version scripts/check-format.sh runs
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev time
  # browser tests of the web page (tests/web, driven by Playwright)
  chromium
  # scale-out (deploy/, tests/deploy): HAProxy in front of the replicas (local-cluster.sh, the
  # cluster test), curl for their health checks
  haproxy curl
  # `qwenvl chat` driven in a pseudo-terminal (tests/cli/chat_pty_test.py)
  python3-pexpect
  # reference comparisons in benchmarks (PIL + numpy)
  python3 python3-pil python3-numpy
  # bench/long_video.sh: makes long clips and times `ffmpeg -f null` decoding next to the engine's
  ffmpeg
)

packages=("${build_packages[@]}")
with_tests=1
case "${1:-}" in
  --demo) with_tests=0 ;;
  "") packages+=("${test_packages[@]}") ;;
  *) echo "usage: $0 [--demo]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js and npm: a machine may already carry them from another source (NodeSource's nodejs
# bundles npm, and Debian's npm package then cannot be installed beside it), so the commands
# are checked, not the package names.
if [ $with_tests -eq 1 ]; then
  if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
  if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
  # kubectl renders deploy/k8s with its kustomize (tests/deploy/check.sh): Debian's
  # kubernetes-client, unless a kubectl from elsewhere is there (the two cannot be installed together).
  if ! command -v kubectl >/dev/null 2>&1; then missing+=(kubernetes-client); fi
fi

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
