// ReplaceFile: writes a small file whole, so that a reader sees the old contents or the new, never
// a part. The bytes go to a temporary file of a unique name beside the target (two writers, in one
// process or in two, never share it) that is then renamed over the target with the given mode.
#pragma once

#include <string>
#include <string_view>

namespace qwenvl {

// What a temporary's name has after the target's: `<path>.qwenvl-tmp.<unique>`. Listings of
// folders that ReplaceFile writes into skip such names (a crash can leave one behind).
inline constexpr std::string_view kTemporaryMark = ".qwenvl-tmp.";
inline bool IsTemporaryName(std::string_view name) {
  return name.find(kTemporaryMark) != std::string_view::npos;
}

// Throws Error(kIo) naming the path when the file cannot be written; no temporary is left behind.
// mode: 0644 for shared caches and refs, 0600 for what is the user's alone (a saved chat).
void ReplaceFile(const std::string& path, std::string_view bytes, unsigned mode = 0644);

}  // namespace qwenvl
