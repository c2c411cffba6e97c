#!/usr/bin/env bash
# Checks that every section reference in the code (§N, §N.M, …) names a heading of docs/model.md.
#
#   scripts/check-doc-refs.sh [SOURCE_DIR]       (default: the repository this script lives in)
#
# Looks at *.cc, *.h, *.js, *.mjs, *.cmake and CMakeLists.txt under src, include, tests, fuzz, bench
# and examples (node_modules left out). A reference resolves when docs/model.md has a heading
# "#… §N.M Title" with exactly that number. References to other documents are not ours to check
# and are skipped when the document is named right before the sign: "RFC 4648 §4",
# "Unicode §3.9", "ECMA-262 §7", "ISO/IEC 14882 §6", "POSIX §2". Everything else must resolve
# (a style-guide number does not: the comment should give the reason itself).
#
# Prints file:line: §ref for each unresolved reference and exits 1; exits 0 when all resolve.
# Run by ctest as Docs.SectionReferencesResolve.
set -euo pipefail
export LC_ALL=C  # byte-wise matching: § is the two bytes C2 A7 in UTF-8

root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
doc="$root/docs/model.md"
if [[ ! -f "$doc" ]]; then
  echo "check-doc-refs: $doc not found" >&2
  exit 2
fi

# The section numbers docs/model.md defines: "## §3.4 Window attention" -> §3.4.
sections="$(grep -oE '^#{1,6} +§[0-9]+(\.[0-9]+)*' "$doc" | grep -oE '§[0-9.]+' | sort -u)"
if [[ -z "$sections" ]]; then
  echo "check-doc-refs: no numbered heading (## §N Title) in $doc" >&2
  exit 2
fi

dirs=()
for d in src include tests fuzz bench examples; do
  [[ -d "$root/$d" ]] && dirs+=("$root/$d")
done
if [[ ${#dirs[@]} -eq 0 ]]; then
  echo "check-doc-refs: no source folder under $root" >&2
  exit 2
fi

# Every reference with the text just before it: path:line:prefix§N.M. The prefix is the external
# document's name when there is one (otherwise empty).
external='(RFC ?[0-9]+|Unicode( Standard)?|ECMA-[0-9]+|ISO(/IEC)? ?[0-9]+(:[0-9]+)?|POSIX)[ ,]*'
refs="$(find "${dirs[@]}" -name node_modules -prune -o -type f \
          \( -name '*.cc' -o -name '*.h' -o -name '*.js' -o -name '*.mjs' -o -name '*.cmake' \
             -o -name CMakeLists.txt \) -print0 |
        xargs -0 -r grep -HnoE "($external)?§[0-9]+(\.[0-9]+)*" || true)"

checked=0
failed=0
while IFS= read -r hit; do
  [[ -z "$hit" ]] && continue
  file="${hit%%:*}"
  rest="${hit#*:}"
  line="${rest%%:*}"
  match="${rest#*:}"
  ref="§${match##*§}"
  prefix="${match%§*}"
  [[ -n "$prefix" ]] && continue  # another document's section
  checked=$((checked + 1))
  if ! grep -qxF -- "$ref" <<<"$sections"; then
    echo "${file#"$root"/}:$line: $ref has no heading in docs/model.md"
    failed=$((failed + 1))
  fi
done <<<"$refs"

if [[ $failed -gt 0 ]]; then
  echo "check-doc-refs: $failed of $checked references do not resolve"
  exit 1
fi
echo "check-doc-refs: all $checked references resolve to docs/model.md headings"
