// The Hugging Face cache layout, exactly as huggingface_hub writes it:
//   <root>/models--ORG--NAME/blobs/<etag>              the files' bytes, named by ETag (LFS
//                                                       files: their sha256; others: the git
//                                                       blob id)
//                           /blobs/<etag>.incomplete   a download in progress (resumed by Range)
//                           /snapshots/<commit>/<path> -> ../../blobs/<etag> (relative symlinks)
//                           /refs/<revision>           the commit a branch or tag pointed to
//   <root>/.locks/models--ORG--NAME/<etag>.lock         flock()ed while a blob is written
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "hub/model_ref.h"

namespace qwenvl::hub {

namespace fs = std::filesystem;

std::string RepoFolderName(const ModelRef& ref);  // models--ORG--NAME
fs::path RepoFolder(const fs::path& root, const ModelRef& ref);
fs::path BlobPath(const fs::path& repo_folder, const std::string& etag);
fs::path SnapshotFolder(const fs::path& repo_folder, const std::string& commit);
fs::path RefPath(const fs::path& repo_folder, const std::string& revision);
fs::path LockPath(const fs::path& root, const ModelRef& ref, const std::string& etag);

// An ETag the hub sends for a file: a 40-hex git blob id or a 64-hex sha256 (quotes and a weak
// "W/" prefix removed). Anything else is refused, as it would name a file in blobs/.
std::optional<std::string> NormalizeEtag(std::string_view header);
bool IsSha256Etag(std::string_view etag);

// The commit `ref.revision` names in the cache: the revision itself when it is a commit hash,
// else the content of refs/<revision>; nullopt when not known.
std::optional<std::string> CachedCommit(const fs::path& repo_folder, const std::string& revision);
// The snapshot folder a reference resolves to in the cache, when it is there (the folder holds
// config.json: a model folder, not a partial one listing only a README).
std::optional<fs::path> FindCachedModel(const fs::path& root, const ModelRef& ref);

// Writes refs/<revision> = commit (atomically), as huggingface_hub does for non-commit revisions.
void WriteRef(const fs::path& repo_folder, const std::string& revision, const std::string& commit);
// snapshots/<commit>/<path> -> the blob, a relative symlink (replaced when present).
void LinkSnapshotFile(const fs::path& repo_folder, const std::string& commit,
                      const std::string& repo_path, const std::string& etag);

struct CachedModel {
  std::string repo_id;                        // ORG/NAME
  std::vector<std::string> revisions;         // refs/ names, with their commits below
  std::vector<std::string> revision_commits;  // same order
  std::vector<std::string> snapshots;         // commits with a snapshot folder
  uint64_t size_on_disk = 0;                  // blobs/, incomplete ones included
  int files = 0;                              // files in the snapshots
  int missing_files = 0;                      // snapshot links whose blob is absent
  int incomplete_blobs = 0;                   // downloads not finished
  bool Complete() const { return missing_files == 0 && incomplete_blobs == 0; }
};
// The models under `root` (folders models--*), sorted by name; other entries are ignored.
std::vector<CachedModel> ListCachedModels(const fs::path& root);

// Removes models--ORG--NAME (and its locks) from the cache; throws Error(kNotFound) when absent.
// Returns the bytes freed.
uint64_t RemoveCachedModel(const fs::path& root, const ModelRef& ref);

}  // namespace qwenvl::hub
