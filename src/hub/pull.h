// Downloads a model folder from the hub into the Hugging Face cache, in the hub's protocol as
// huggingface_hub speaks it: the revision API for the commit and the file list, then per file a
// HEAD on resolve/<commit>/<path> (ETag / X-Linked-Etag naming the blob, X-Linked-Size its size,
// X-Repo-Commit, Location the blob host) and a GET that follows the redirect, resumed with Range
// from blobs/<etag>.incomplete. Several files at once; every LFS file's sha256 checked.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "hub/http_client.h"
#include "hub/hub_settings.h"
#include "hub/model_ref.h"
#include "hub/revision_info.h"

namespace qwenvl::hub {

struct PullOptions {
  std::vector<std::string> include;  // shell globs (fnmatch, '*' crosses '/'); empty: every file
  int jobs = 4;                      // files downloaded at once
  int retries = 3;                   // per file, after a dropped connection (resumed by Range)
  HttpLimits limits;
};

// Told what happens, from the worker threads (calls are serialized by Pull).
class PullObserver {
 public:
  virtual ~PullObserver() = default;
  virtual void OnListed(const std::string& commit, size_t files, uint64_t total_bytes) {}
  // `present`: bytes already on disk (a finished blob, or a partial one being resumed).
  virtual void OnFileStart(const std::string& path, uint64_t size, uint64_t present) {}
  virtual void OnFileBytes(const std::string& path, uint64_t bytes) {}
  // The download restarted from `present` bytes (a retry after a dropped connection).
  virtual void OnFileRetry(const std::string& path, uint64_t present, const std::string& why) {}
  virtual void OnFileDone(const std::string& path, uint64_t size, bool downloaded) {}
};

struct PullResult {
  std::string commit;
  std::filesystem::path snapshot;  // snapshots/<commit>
  size_t files = 0;
  uint64_t bytes_downloaded = 0;
};

// Throws Error: kNotFound (no such model or revision), kInvalidArgument (access refused: a gated
// or private model without a token; an unsafe listing), kCorruptFile (a hash or size mismatch:
// the bad bytes are deleted), kIo (network), kOutOfRange (a listing or a body over its limit).
PullResult Pull(const HubSettings& settings, const ModelRef& ref, const PullOptions& options,
                PullObserver* observer = nullptr);

}  // namespace qwenvl::hub
