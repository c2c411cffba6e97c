#include "server/media_source.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <fstream>

#include "server/api_error.h"

namespace qwenvl::server {
namespace {

constexpr std::string_view kFileScheme = "file://";

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// The bytes of "data:<mime>[;base64],<payload>"; only base64 payloads carry binary media.
std::vector<uint8_t> DataUriBytes(const std::string& url, const std::string& param) {
  const size_t comma = url.find(',');
  if (comma == std::string::npos) {
    throw BadRequest("malformed data URI in " + param + ": no ',' before the payload", param);
  }
  const std::string_view header(url.data() + 5, comma - 5);
  if (header.size() < 7 || header.substr(header.size() - 7) != ";base64") {
    throw BadRequest("data URI in " + param + " must be base64 encoded (data:<mime>;base64,...)",
                     param);
  }
  auto bytes = DecodeBase64(std::string_view(url).substr(comma + 1), param);
  if (bytes.empty()) throw BadRequest("empty data URI in " + param, param);
  return bytes;
}

std::string LocalPath(const std::string& url, const MediaPolicy& policy, const std::string& param) {
  if (!policy.allow_local_files) {
    throw BadRequest("local file paths in " + param +
                         " are disabled; start the server with --allow-local-files or send a "
                         "data: URI",
                     param, "local_files_disabled");
  }
  std::string path = StartsWith(url, kFileScheme) ? url.substr(kFileScheme.size()) : url;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw BadRequest("file not found: " + path + " (" + param + ")", param, "file_not_found");
  }
  return path;
}

std::vector<uint8_t> RemoteBytes(const std::string& url, const MediaPolicy& policy,
                                 const std::string& param) {
  if (!policy.allow_remote_urls || !policy.fetch_url) {
    throw BadRequest("remote URLs in " + param +
                         " are disabled; start the server with --allow-remote-urls or send a "
                         "data: URI",
                     param, "remote_urls_disabled");
  }
  return policy.fetch_url(url);
}

}  // namespace

std::vector<uint8_t> DecodeBase64(std::string_view text, const std::string& param) {
  static const std::array<int8_t, 256> kTable = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(alphabet[i])] = static_cast<int8_t>(i);
    t['-'] = 62;  // URL-safe alphabet too
    t['_'] = 63;
    return t;
  }();
  std::vector<uint8_t> out;
  out.reserve(text.size() * 3 / 4);
  uint32_t buffer = 0;
  int bits = 0;
  for (const char c : text) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
    const int8_t v = kTable[static_cast<uint8_t>(c)];
    if (v < 0) throw BadRequest("invalid base64 character in " + param, param, "invalid_base64");
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

TempFiles::~TempFiles() {
  if (dir_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string TempFiles::Write(const std::vector<uint8_t>& bytes, std::string_view extension) {
  if (dir_.empty()) {
    static std::atomic<uint64_t> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("qwenvl-serve-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(dir_);
  }
  const auto path = dir_ / ("frame" + std::to_string(count_++) + std::string(extension));
  std::ofstream file(path, std::ios::binary);
  file.write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  if (!file) throw ApiError(500, "cannot write a temporary frame file " + path.string());
  return path.string();
}

void ResolveMediaUrl(const std::string& url, const MediaPolicy& policy, const std::string& param,
                     Media& media) {
  if (url.empty()) throw BadRequest(param + " is empty", param);
  if (StartsWith(url, "data:")) {
    media.bytes = DataUriBytes(url, param);
  } else if (StartsWith(url, "http://") || StartsWith(url, "https://")) {
    media.bytes = RemoteBytes(url, policy, param);
  } else if (StartsWith(url, kFileScheme) || url[0] == '/') {
    media.path = LocalPath(url, policy, param);
  } else {
    throw BadRequest("unsupported URL in " + param +
                         ": expected data:, file://, an absolute path, or http(s)://",
                     param, "unsupported_url");
  }
}

std::string ResolveFramePath(const std::string& url, const MediaPolicy& policy,
                             const std::string& param, std::shared_ptr<TempFiles>& temp) {
  Media media;
  ResolveMediaUrl(url, policy, param, media);
  if (!media.path.empty()) return media.path;
  if (!temp) temp = std::make_shared<TempFiles>();
  return temp->Write(media.bytes, ".img");
}

}  // namespace qwenvl::server
