#include "hub/blob_download.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "util/error.h"
#include "util/sha256.h"

namespace qwenvl::hub {
namespace {

namespace fs = std::filesystem;

class File {
 public:
  explicit File(const fs::path& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0)
      throw Error(ErrorCode::kIo, "cannot open " + path.string() + ": " + strerror(errno));
  }
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  uint64_t Size() const {
    const off_t end = ::lseek(fd_, 0, SEEK_END);
    return end < 0 ? 0 : static_cast<uint64_t>(end);
  }
  void Truncate(uint64_t size) {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0)
      throw Error(ErrorCode::kIo, "cannot truncate " + path_.string());
  }
  // Hashes the first `size` bytes into `h`.
  void HashPrefix(uint64_t size, Sha256& h) const {
    std::vector<uint8_t> buf(1 << 20);
    uint64_t done = 0;
    while (done < size) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - done));
      const ssize_t n = ::pread(fd_, buf.data(), want, static_cast<off_t>(done));
      if (n <= 0) throw Error(ErrorCode::kIo, "cannot read " + path_.string());
      h.Update(std::span(buf.data(), static_cast<size_t>(n)));
      done += static_cast<uint64_t>(n);
    }
  }
  void Append(const char* data, size_t size) {
    ::lseek(fd_, 0, SEEK_END);
    while (size > 0) {
      const ssize_t n = ::write(fd_, data, size);
      if (n <= 0)
        throw Error(ErrorCode::kIo, "cannot write " + path_.string() + ": " + strerror(errno));
      data += n;
      size -= static_cast<size_t>(n);
    }
  }
  void Sync() {
    if (::fsync(fd_) != 0) throw Error(ErrorCode::kIo, "cannot sync " + path_.string());
  }

 private:
  fs::path path_;
  int fd_ = -1;
};

std::string StatusMessage(long status, const std::string& label, const std::string& body) {
  std::string msg = label + ": HTTP " + std::to_string(status);
  if (status == 401 || status == 403)
    msg += " (access refused: a gated or private model needs a token, HF_TOKEN)";
  if (status == 404) msg += " (not found)";
  if (status == 416) msg += " (the server refused the resume range)";
  if (!body.empty()) msg += ": " + body.substr(0, 200);
  return msg;
}

}  // namespace

uint64_t DownloadBlob(HttpSession& http, const BlobSource& source, const fs::path& blob_path,
                      int retries, const BlobProgress& progress) {
  const fs::path partial = blob_path.string() + ".incomplete";
  fs::create_directories(blob_path.parent_path());
  uint64_t received_total = 0;
  for (int attempt = 0;; ++attempt) {
    File file(partial);
    uint64_t have = file.Size();
    if (have > source.size) {  // not a prefix of this blob: start again
      file.Truncate(0);
      have = 0;
    }
    Sha256 hash;
    file.HashPrefix(have, hash);
    if (progress.on_start) progress.on_start(have);

    bool overflow = false;
    long error_status = 0;
    std::string error_body;
    std::string failure;
    if (have < source.size || source.size == 0) {
      HttpRequest request;
      request.url = source.url;
      request.headers = source.headers;
      if (have > 0) request.range_from = static_cast<int64_t>(have);
      bool first = true;
      const BodySink sink = [&](long status, const char* data, size_t size) {
        if (status != 200 && status != 206) {
          error_status = status;
          if (error_body.size() < 4096) error_body.append(data, std::min<size_t>(size, 4096));
          return true;
        }
        if (first) {
          first = false;
          if (status == 200 && have > 0) {  // Range ignored: the whole blob comes again
            file.Truncate(0);
            hash = Sha256();
            have = 0;
            if (progress.on_retry) progress.on_retry(0, "the server does not resume; restarting");
          }
        }
        if (have + size > source.size) {
          overflow = true;
          http.abort_reason =
              "the server sent more than the announced " + std::to_string(source.size) + " bytes";
          return false;
        }
        if (progress.cancelled && progress.cancelled()) {
          http.abort_reason = "cancelled";
          return false;
        }
        file.Append(data, size);
        hash.Update(std::string_view(data, size));
        have += size;
        received_total += size;
        if (progress.on_bytes) progress.on_bytes(size);
        return true;
      };
      try {
        const HttpResponse r = http.Perform(request, sink);
        if (r.status != 200 && r.status != 206) {
          error_status = r.status;
        }
      } catch (const Error& e) {
        if (overflow) {
          std::error_code ec;
          fs::remove(partial, ec);
          throw Error(ErrorCode::kCorruptFile,
                      source.label + ": " + e.what() + " (the partial file was deleted)");
        }
        if ((progress.cancelled && progress.cancelled()) || e.code() != ErrorCode::kIo) throw;
        failure = e.what();
      }
      if (error_status != 0) {
        // A client error will not change on retry; a server error may.
        if (error_status < 500 || attempt >= retries)
          throw Error(error_status == 404 ? ErrorCode::kNotFound : ErrorCode::kInvalidArgument,
                      StatusMessage(error_status, source.label, error_body));
        failure = "HTTP " + std::to_string(error_status);
      }
    }
    if (failure.empty() && have < source.size) failure = "the connection ended early";
    if (!failure.empty()) {
      if (attempt >= retries)
        throw Error(ErrorCode::kIo,
                    source.label + ": " + failure + " after " + std::to_string(have) + " of " +
                        std::to_string(source.size) + " bytes (run the pull again to resume)");
      if (progress.on_retry) progress.on_retry(have, failure);
      continue;
    }
    const std::string digest = hash.FinishHex();
    if (source.sha256 && digest != *source.sha256) {
      std::error_code ec;
      fs::remove(partial, ec);
      throw Error(ErrorCode::kCorruptFile, source.label + ": sha256 mismatch (expected " +
                                               *source.sha256 + ", got " + digest +
                                               "); the downloaded bytes were deleted");
    }
    file.Sync();
    fs::rename(partial, blob_path);
    return received_total;
  }
}

}  // namespace qwenvl::hub
