#!/usr/bin/env bash
# Builds util and the SIMD kernels, with their tests, for 64-bit ARM (Highway's NEON target) with
# Debian's cross toolchain and -Werror. Installs what it needs (root or sudo). With QEMU_TESTS=1 it
# also runs the tests under qemu-aarch64; on the development machine qemu-user hangs in every futex
# wait (a ten-line condition-variable program does too), so that is off by default there.
#   scripts/check-arm64.sh [BUILD_DIR]   (default build-arm64)
set -euo pipefail
build=${1:-build-arm64}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
fi
need=()
for p in g++-aarch64-linux-gnu libhwy-dev:arm64 libgtest-dev:arm64 libgmock-dev:arm64 qemu-user; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
  -DQWENVL_KERNELS_ONLY=ON -DQWENVL_WERROR=ON
ninja -C "$build"
if [ "${QEMU_TESTS:-0}" = 1 ]; then
  ctest --test-dir "$build" --output-on-failure --timeout 300
else
  echo "check-arm64: built $build/tests/qwenvl_util_test and qwenvl_kernels_test for aarch64" \
    "(QEMU_TESTS=1 runs them under qemu)"
fi
