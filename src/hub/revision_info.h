// The hub's answer to GET /api/models/ORG/NAME/revision/REV?blobs=true: the commit the revision
// points to and the repository's files (with sizes and, for LFS files, their sha256).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qwenvl::hub {

struct RepoFile {
  std::string path;                   // "rfilename", checked by IsSafeRepoPath
  std::optional<uint64_t> size;       // "size" (or lfs.size)
  std::optional<std::string> sha256;  // lfs.sha256: the hash the downloaded bytes must have
};

struct RevisionInfo {
  std::string commit;  // "sha", 40 hex digits
  std::vector<RepoFile> files;
};

inline constexpr size_t kMaxRevisionInfoBytes = 32u << 20;
inline constexpr size_t kMaxRepoFiles = 100000;

// Throws Error(kCorruptFile) for malformed JSON, a missing or malformed commit, more than
// kMaxRepoFiles files, and Error(kInvalidArgument) for a file path that is not a safe relative
// path (absolute, "..", control characters) or listed twice: such a listing is refused whole.
RevisionInfo ParseRevisionInfo(std::string_view json);

}  // namespace qwenvl::hub
