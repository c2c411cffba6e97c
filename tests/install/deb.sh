#!/usr/bin/env bash
# Builds the Debian package (cmake/Package.cmake), installs it with apt-get (which pulls in the
# runtime libraries its Depends names), runs the installed /usr/bin/qwenvl: --version and the demo
# checkpoint from /usr/share/qwenvl, then removes the package, leaving the machine as it was.
#   tests/install/deb.sh BUILD_DIR
# Exits 77 (CTest: skipped) when not root, when apt-get or dpkg-shlibdeps is missing, or when a
# qwenvl package is already installed (the test would replace and then remove it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(realpath "$1")"
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: installing a package needs root"; exit 77; fi
for tool in apt-get dpkg-deb dpkg-shlibdeps cpack; do
  command -v "$tool" > /dev/null || { echo "SKIP: $tool is missing"; exit 77; }
done
if dpkg-query -W -f='${Status}' qwenvl 2> /dev/null | grep -q "ok installed"; then
  echo "SKIP: a qwenvl package is already installed; this test would replace and remove it"
  exit 77
fi

work="$(mktemp -d)"
installed=0
cleanup() {
  if [ $installed -eq 1 ]; then
    apt-get remove -y -qq -o DPkg::Lock::Timeout=300 qwenvl > "$work/remove.log" 2>&1 ||
      { echo "FAIL: apt-get remove qwenvl"; cat "$work/remove.log"; }
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/out" > "$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack"; }
debs=("$work"/out/qwenvl_*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "cpack made no single qwenvl_*.deb: ${debs[*]}"
deb="${debs[0]}"
version="$(grep -m1 -o 'CPACK_PACKAGE_VERSION "[^"]*"' "$build/CPackConfig.cmake" | cut -d'"' -f2)"
echo "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

# The control fields: name, version, and runtime libraries (not -dev packages) from dpkg-shlibdeps.
[ "$(dpkg-deb -f "$deb" Package)" = qwenvl ] || fail "Package is not qwenvl"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "Version is not $version"
depends="$(dpkg-deb -f "$deb" Depends)"
echo "Depends: $depends"
for lib in libc6 libstdc++6 libjpeg62-turbo libavcodec59 libssl3; do
  grep -q "\b$lib\b" <<< "$depends" || fail "Depends does not name $lib"
done
if grep -q -- '-dev\b' <<< "$depends"; then fail "Depends names a -dev package"; fi
contents="$(dpkg-deb -c "$deb")"
for f in ./usr/bin/qwenvl ./usr/include/qwenvl/engine.h ./usr/share/qwenvl/demo.png \
         ./usr/share/qwenvl/demo-model/config.json ./usr/share/qwenvl/demo-model/model.safetensors \
         ./usr/share/qwenvl/demo-model/tokenizer.json; do
  grep -q " $f\$" <<< "$contents" || fail "the package lacks $f"
done

# An installed copy must not be shadowed by another qwenvl earlier on PATH: the test calls /usr/bin.
apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$deb" > "$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "apt-get install $deb"; }
installed=1
got="$(/usr/bin/qwenvl --version)"
[ "$got" = "qwenvl $version" ] || fail "/usr/bin/qwenvl --version says '$got', not 'qwenvl $version'"
# The demo from /usr, in a folder with nothing of the source tree: the greedy answer of the demo
# checkpoint on scene03 (demo.png) is its reference_text in data/demo/cases.json.
cd "$work"
answer="$(/usr/bin/qwenvl run -m /usr/share/qwenvl/demo-model --image /usr/share/qwenvl/demo.png \
  -p "What shapes are in this image?" --max-tokens 40 --threads 2)"
echo "installed demo answers: $answer"
expected="$(python3 -c '
import json, sys
for c in json.load(open(sys.argv[1]))["cases"]:
    if c["image"] == "scenes/scene03.png" and c["question"] == "What shapes are in this image?":
        print(c["reference_text"])
' "$here/../../data/demo/cases.json")"
[ -n "$expected" ] || fail "data/demo/cases.json has no reference answer for scene03"
[ "$answer" = "$expected" ] || fail "the demo answered '$answer', not the reference '$expected'"
echo "ok - package $(basename "$deb"): installed, --version, demo from /usr, removed"
