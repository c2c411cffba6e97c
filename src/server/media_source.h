// Where a picture or video of a chat request comes from: a data: URI (base64), a local file (only
// with --allow-local-files) or an http URL (only with --allow-remote-urls).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "qwenvl/engine.h"

namespace qwenvl::server {

// Standard base64 (RFC 4648 §4), padding optional, whitespace ignored. Throws ApiError(400) on a
// character outside the alphabet.
std::vector<uint8_t> DecodeBase64(std::string_view text, const std::string& param);

struct MediaPolicy {
  bool allow_local_files = false;
  bool allow_remote_urls = false;
  // Fetches an http(s) URL; set by the server when remote URLs are allowed. Throws ApiError.
  std::function<std::vector<uint8_t>(const std::string& url)> fetch_url;
};

// Files written for one request (video frames given as data URIs: the engine reads frames from
// paths), removed when the last reference goes.
class TempFiles {
 public:
  ~TempFiles();
  std::string Write(const std::vector<uint8_t>& bytes, std::string_view extension);

 private:
  std::filesystem::path dir_;
  int count_ = 0;
};

// Fills `media.path` or `media.bytes` from `url`. `param` names the field in error messages.
void ResolveMediaUrl(const std::string& url, const MediaPolicy& policy, const std::string& param,
                     Media& media);

// A frame of a video given as a list of images: always a path (a data URI is written to `temp`).
std::string ResolveFramePath(const std::string& url, const MediaPolicy& policy,
                             const std::string& param, std::shared_ptr<TempFiles>& temp);

// Downloads an http:// URL with cpp-httplib (https needs a TLS build: refused with a clear 400).
std::vector<uint8_t> FetchHttpUrl(const std::string& url, int64_t max_bytes);

}  // namespace qwenvl::server
