#include "server/media_source.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <fstream>
#include <stdexcept>

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

// The path a file:// URL names: "file:///p" and "file://localhost/p" are "/p", percent-escapes
// decoded (what Python's Path.as_uri() and browsers write).
std::string FileUrlPath(const std::string& url, const std::string& param) {
  std::string_view rest = std::string_view(url).substr(kFileScheme.size());
  if (StartsWith(rest, "localhost/")) rest.remove_prefix(std::string_view("localhost").size());
  if (!StartsWith(rest, "/")) {
    throw BadRequest("file URL in " + param + " must name a local path (file:///path)", param,
                     "unsupported_url");
  }
  std::string path;
  path.reserve(rest.size());
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] != '%') {
      path += rest[i];
      continue;
    }
    const auto hex = [](char c) {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    const int high = i + 2 < rest.size() ? hex(rest[i + 1]) : -1;
    const int low = i + 2 < rest.size() ? hex(rest[i + 2]) : -1;
    if (high < 0 || low < 0) {
      throw BadRequest("malformed percent-escape in the file URL in " + param, param,
                       "unsupported_url");
    }
    path += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return path;
}

// Whether `path` lies inside `root` (both canonical): compared component by component, so that
// /srv/media-old is not inside /srv/media.
bool IsInside(const std::filesystem::path& path, const std::filesystem::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // a trailing separator
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(-1); }
  int get() const { return fd_; }
  void Reset(int fd) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// Local files are read from descriptors, not by name twice: the path is canonicalized (symlinks
// and ".." resolved) and checked against the root, then opened one component at a time from the
// root with O_NOFOLLOW, so a symlink swapped in after the check is refused instead of followed;
// the file is stat'ed before it is opened (a FIFO or device is never opened: opening a FIFO
// blocks, opening a device can act on it) and the open descriptor is stat'ed again, so the size
// and type judged are those of the bytes read.
std::vector<uint8_t> LocalBytes(const std::string& url, const MediaPolicy& policy,
                                const std::string& param) {
  if (policy.local_root.empty()) {
    throw BadRequest("local file paths in " + param +
                         " are disabled; start the server with --allow-local-files DIR or send a "
                         "data: URI",
                     param, "local_files_disabled");
  }
  const std::string path = StartsWith(url, kFileScheme) ? FileUrlPath(url, param) : url;
  // One message for a missing file and for any path outside the root, whether it exists or not.
  const auto not_found = [&] {
    return BadRequest("file not found in the server's media directory: " + path, param,
                      "file_not_found");
  };
  const auto not_regular = [&] {
    return BadRequest("not a regular file: " + path, param, "not_a_regular_file");
  };
  if (path.find('\0') != std::string::npos) throw not_found();
  std::error_code ec;
  const std::filesystem::path root = std::filesystem::canonical(policy.local_root, ec);
  if (ec) throw ApiError(500, "the server's media directory is not available");
  const std::filesystem::path resolved = std::filesystem::canonical(path, ec);
  if (ec || !IsInside(resolved, root)) throw not_found();

  Fd dir(open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) throw ApiError(500, "the server's media directory is not available");
  std::vector<std::string> components;
  for (const auto& c : resolved.lexically_relative(root)) {
    if (!c.empty() && c != ".") components.push_back(c.string());
  }
  if (components.empty()) throw not_regular();  // the root itself
  for (size_t i = 0; i + 1 < components.size(); ++i) {
    const int next =
        openat(dir.get(), components[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) throw not_found();  // changed since it was resolved
    dir.Reset(next);
  }
  const int parent_fd = dir.get();
  const char* name = components.back().c_str();
  struct stat before {};
  if (fstatat(parent_fd, name, &before, AT_SYMLINK_NOFOLLOW) != 0) throw not_found();
  if (!S_ISREG(before.st_mode)) throw not_regular();
  Fd file(openat(parent_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (file.get() < 0) {
    if (errno == EACCES || errno == EPERM) {
      throw BadRequest("cannot read " + path + ": permission denied", param, "file_unreadable");
    }
    throw not_found();
  }
  struct stat st {};
  if (fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_dev != before.st_dev ||
      st.st_ino != before.st_ino) {
    throw not_found();
  }
  // procfs and sysfs files call themselves regular but have no real size.
  struct statfs fs {};
  if (fstatfs(file.get(), &fs) == 0 &&
      (fs.f_type == PROC_SUPER_MAGIC || fs.f_type == SYSFS_MAGIC)) {
    throw not_regular();
  }
  if (st.st_size > policy.max_local_bytes) {
    throw BadRequest(path + " is larger than " + std::to_string(policy.max_local_bytes) + " bytes",
                     param, "media_too_large");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n =
        pread(file.get(), bytes.data() + filled, bytes.size() - filled, static_cast<off_t>(filled));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw BadRequest("cannot read " + path, param, "file_unreadable");
    if (n == 0) break;  // truncated while being read: what was there
    filled += static_cast<size_t>(n);
  }
  bytes.resize(filled);
  if (bytes.empty()) throw BadRequest("empty file: " + path, param, "empty_file");
  return bytes;
}

std::string FetchErrorCode(FetchError::Reason reason) {
  switch (reason) {
    case FetchError::Reason::kInvalidUrl:
      return "invalid_url";
    case FetchError::Reason::kNotAllowed:
      return "url_not_allowed";
    case FetchError::Reason::kTooLarge:
      return "media_too_large";
    case FetchError::Reason::kFailed:
      break;
  }
  return "fetch_failed";
}

std::vector<uint8_t> RemoteBytes(const std::string& url, const MediaPolicy& policy,
                                 const std::string& param) {
  if (!policy.allow_remote_urls || !policy.fetch_url) {
    throw BadRequest("remote URLs in " + param +
                         " are disabled; start the server with --allow-remote-urls or send a "
                         "data: URI",
                     param, "remote_urls_disabled");
  }
  std::vector<uint8_t> bytes;
  try {
    bytes = policy.fetch_url(url);
  } catch (const FetchError& e) {
    throw BadRequest(e.what(), param, FetchErrorCode(e.reason()));
  }
  // Read as any other failure: an empty answer is the far side's doing.
  if (bytes.empty()) throw BadRequest("could not fetch " + url, param, "fetch_failed");
  return bytes;
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

std::filesystem::path CanonicalMediaRoot(const std::string& dir) {
  std::error_code ec;
  auto root = std::filesystem::canonical(dir, ec);
  if (ec || !std::filesystem::is_directory(root, ec)) {
    throw std::runtime_error("media directory " + dir + " is not an existing directory");
  }
  return root;
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
    media.bytes = LocalBytes(url, policy, param);
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
  if (!temp) temp = std::make_shared<TempFiles>();
  return temp->Write(media.bytes, ".img");
}

}  // namespace qwenvl::server
