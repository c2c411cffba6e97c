// Where a picture or video of a chat request comes from: a data: URI (base64), a local file (only
// inside the media directory the server was given) or an http(s) URL (only with remote URLs
// allowed; see url_fetch.h for what a fetch refuses).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "qwenvl/engine.h"
#include "server/url_fetch.h"

namespace qwenvl::server {

// Standard base64 (RFC 4648 §4), padding optional, whitespace ignored. Throws ApiError(400) on a
// character outside the alphabet.
std::vector<uint8_t> DecodeBase64(std::string_view text, const std::string& param);

struct MediaPolicy {
  // Local files (file:///... URLs and absolute paths) are read only when they resolve, symlinks and
  // ".." followed, to a regular file inside this directory. Empty: local files are refused.
  std::filesystem::path local_root;
  int64_t max_local_bytes = 64LL << 20;  // larger local files are refused without being read

  bool allow_remote_urls = false;
  // Fetches an http(s) URL: the server sets it to FetchUrl with its FetchOptions (url_fetch.h:
  // private addresses, size cap, deadline; UrlFetcher(options) makes that function). Unset, remote
  // URLs are refused as disabled. Throws FetchError or ApiError.
  std::function<std::vector<uint8_t>(const std::string& url)> fetch_url;
};

// The canonical form of a media directory given to the server (symlinks resolved), to be checked
// once at startup. Throws std::runtime_error when it is not an existing directory.
std::filesystem::path CanonicalMediaRoot(const std::string& dir);

// Files written for one request (the frames of a video given as a list of images: the engine
// reads frames from paths), removed when the last reference goes.
class TempFiles {
 public:
  ~TempFiles();
  std::string Write(const std::vector<uint8_t>& bytes, std::string_view extension);

 private:
  std::filesystem::path dir_;
  int count_ = 0;
};

// Fills `media.bytes` from `url` (every source, local files included, is read here, so what was
// checked is what the engine decodes). `param` names the field in error messages. Throws
// ApiError: 400 for anything the client sent or named.
void ResolveMediaUrl(const std::string& url, const MediaPolicy& policy, const std::string& param,
                     Media& media);

// A frame of a video given as a list of images: always a path, since the engine reads frames from
// files: the frame's bytes, resolved as above, are written to `temp`.
std::string ResolveFramePath(const std::string& url, const MediaPolicy& policy,
                             const std::string& param, std::shared_ptr<TempFiles>& temp);

}  // namespace qwenvl::server
