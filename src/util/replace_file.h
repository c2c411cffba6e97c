// ReplaceFile: writes a small file whole, so that a reader sees the old contents or the new, never
// a part. The bytes go to a temporary file of a unique name beside the target (two writers, in one
// process or in two, never share it) that is then renamed over the target, mode 0644.
#pragma once

#include <string>
#include <string_view>

namespace qwenvl {

// Throws Error(kIo) naming the path when the file cannot be written; no temporary is left behind.
void ReplaceFile(const std::string& path, std::string_view bytes);

}  // namespace qwenvl
