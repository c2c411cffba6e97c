// One blob of the cache downloaded into blobs/<etag>.incomplete and renamed to blobs/<etag> once
// its size and sha256 are right. A partial file is resumed with Range (a server that answers 200
// instead of 206 restarts it); a hash mismatch or a server sending more than the announced size
// deletes the partial file, so that bad bytes are never kept or resumed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "hub/http_client.h"

namespace qwenvl::hub {

struct BlobSource {
  std::string url;                    // the resolve/ URL or the blob host it redirected to
  std::vector<std::string> headers;   // Authorization for the hub, none for another host
  uint64_t size = 0;                  // X-Linked-Size / Content-Length
  std::optional<std::string> sha256;  // expected hash (LFS files), lowercase hex
  std::string label;                  // the repository path, for messages
};

struct BlobProgress {
  std::function<void(uint64_t present)> on_start;  // bytes already there before a request
  std::function<void(uint64_t bytes)> on_bytes;
  std::function<void(uint64_t present, const std::string& why)> on_retry;
  std::function<bool()> cancelled;  // checked while receiving
};

// Returns the bytes received over the network. `retries`: further attempts after a transfer that
// failed or ended short (each resumes where the file stands).
uint64_t DownloadBlob(HttpSession& http, const BlobSource& source,
                      const std::filesystem::path& blob_path, int retries,
                      const BlobProgress& progress);

}  // namespace qwenvl::hub
