#include "hub/pull.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <mutex>
#include <thread>

#include "hub/blob_download.h"
#include "hub/cache_layout.h"
#include "util/error.h"

namespace qwenvl::hub {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> AuthHeaders(const HubSettings& s) {
  if (s.token.empty()) return {};
  return {"Authorization: Bearer " + s.token};
}

std::optional<uint64_t> ParseSize(const std::string& text) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

// The part of an absolute URL up to the path: scheme://host[:port].
std::string Origin(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return {};
  const size_t path = url.find('/', scheme + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

std::string AccessMessage(long status, const ModelRef& ref, const HubSettings& s) {
  if (status == 401 || status == 403)
    return ref.RepoId() + ": the hub refused access (HTTP " + std::to_string(status) + "): " +
           (s.token.empty() ? "a gated or private model needs a token: set HF_TOKEN (or log in "
                              "with `hf auth login`) after accepting its terms on the hub"
                            : "the token in HF_TOKEN / the token file is not allowed this model");
  return ref.RepoId() + ": HTTP " + std::to_string(status);
}

// Holds huggingface_hub's lock for one blob (flock on .locks/models--ORG--NAME/<etag>.lock), so
// that qwenvl and hf never write the same blob at once.
class BlobLock {
 public:
  explicit BlobLock(const fs::path& path) {
    fs::create_directories(path.parent_path());
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(ErrorCode::kIo, "cannot open the lock " + path.string());
    if (::flock(fd_, LOCK_EX) != 0) throw Error(ErrorCode::kIo, "cannot lock " + path.string());
  }
  ~BlobLock() { ::close(fd_); }
  BlobLock(const BlobLock&) = delete;
  BlobLock& operator=(const BlobLock&) = delete;

 private:
  int fd_ = -1;
};

struct FileMetadata {
  std::string etag, commit, download_url;
  uint64_t size = 0;
};

// HEAD resolve/<commit>/<path>: the hub answers 200 for small git files and a 302 to the blob
// host for LFS files, with X-Linked-Etag / X-Linked-Size describing the blob. Relative redirects
// (a renamed repository) are followed here; the absolute one is where the bytes are.
FileMetadata HeadFile(HttpSession& http, const HubSettings& s, const ModelRef& ref,
                      const std::string& commit, const RepoFile& file) {
  std::string url = s.endpoint + "/" + ref.RepoId() + "/resolve/" + commit + "/" +
                    UrlEncode(file.path, /*keep_slash=*/true);
  for (int hop = 0;; ++hop) {
    HttpRequest request{url, /*head=*/true, /*follow_redirects=*/false, AuthHeaders(s)};
    std::string ignored;
    const HttpResponse r = http.Fetch(request, ignored, 1 << 16);
    const std::string location = r.Header("location");
    if (r.status >= 300 && r.status < 400 && location.starts_with("/") &&
        !location.starts_with("//")) {
      if (hop >= kMaxRedirects)
        throw Error(ErrorCode::kIo,
                    file.path + ": more than " + std::to_string(kMaxRedirects) + " redirects");
      url = Origin(url) + location;
      continue;
    }
    if (r.status == 401 || r.status == 403)
      throw Error(ErrorCode::kInvalidArgument, file.path + ": " + AccessMessage(r.status, ref, s));
    if (r.status == 404) throw Error(ErrorCode::kNotFound, file.path + ": not found on the hub");
    if (r.status >= 400 || r.status < 200)
      throw Error(ErrorCode::kIo, file.path + ": HTTP " + std::to_string(r.status));
    FileMetadata m;
    std::string etag = r.Header("x-linked-etag");
    if (etag.empty()) etag = r.Header("etag");
    const auto normalized = NormalizeEtag(etag);
    if (!normalized)
      throw Error(ErrorCode::kCorruptFile,
                  file.path + ": the hub sent no usable ETag ('" + etag.substr(0, 80) + "')");
    m.etag = *normalized;
    m.commit = r.Header("x-repo-commit");
    if (!m.commit.empty() && m.commit != commit)
      throw Error(ErrorCode::kCorruptFile, file.path + ": the hub answered for commit " +
                                               m.commit.substr(0, 40) + ", not " + commit);
    std::string size = r.Header("x-linked-size");
    if (size.empty()) size = r.Header("content-length");
    const auto parsed = ParseSize(size);
    if (!parsed) throw Error(ErrorCode::kCorruptFile, file.path + ": the hub sent no file size");
    m.size = *parsed;
    if (file.size && *file.size != m.size)
      throw Error(ErrorCode::kCorruptFile, file.path + ": the file list says " +
                                               std::to_string(*file.size) + " bytes, the file " +
                                               std::to_string(m.size));
    m.download_url = url;
    if (r.status >= 300 && !location.empty()) m.download_url = location;
    return m;
  }
}

}  // namespace

PullResult Pull(const HubSettings& settings, const ModelRef& ref, const PullOptions& options,
                PullObserver* observer) {
  const fs::path repo = RepoFolder(settings.cache_root, ref);
  HttpSession http(options.limits);

  // The commit and the file list.
  const std::string api = settings.endpoint + "/api/models/" + ref.RepoId() + "/revision/" +
                          UrlEncode(ref.revision, /*keep_slash=*/false) + "?blobs=true";
  std::string body;
  const HttpResponse r =
      http.Fetch(HttpRequest{api, false, true, AuthHeaders(settings)}, body, kMaxRevisionInfoBytes);
  if (r.status == 401 || r.status == 403)
    throw Error(ErrorCode::kInvalidArgument, AccessMessage(r.status, ref, settings));
  if (r.status == 404)
    throw Error(ErrorCode::kNotFound, "no model " + ref.RepoId() + " at revision " + ref.revision +
                                          " on " + settings.endpoint);
  if (r.status != 200) throw Error(ErrorCode::kIo, api + ": HTTP " + std::to_string(r.status));
  RevisionInfo info = ParseRevisionInfo(body);

  std::vector<RepoFile> files;
  for (RepoFile& f : info.files) {
    bool wanted = options.include.empty();
    for (const std::string& glob : options.include)
      if (fnmatch(glob.c_str(), f.path.c_str(), 0) == 0) wanted = true;
    if (wanted) files.push_back(std::move(f));
  }
  if (files.empty())
    throw Error(ErrorCode::kNotFound, ref.RepoId() + ": no file of the repository matches " +
                                          (options.include.empty() ? "" : options.include[0]));
  fs::create_directories(repo / "blobs");
  fs::create_directories(SnapshotFolder(repo, info.commit));
  WriteRef(repo, ref.revision, info.commit);

  std::mutex mutex;  // serializes the observer and guards `error`
  uint64_t total = 0;
  for (const RepoFile& f : files) total += f.size.value_or(0);
  if (observer) observer->OnListed(info.commit, files.size(), total);

  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::atomic<uint64_t> downloaded{0};
  std::optional<Error> error;
  const auto worker = [&](HttpSession& session) {
    while (!failed) {
      const size_t i = next++;
      if (i >= files.size()) return;
      const RepoFile& file = files[i];
      try {
        const FileMetadata m = HeadFile(session, settings, ref, info.commit, file);
        std::optional<std::string> sha256 = file.sha256;
        if (IsSha256Etag(m.etag)) {
          if (sha256 && *sha256 != m.etag)
            throw Error(ErrorCode::kCorruptFile, file.path +
                                                     ": the file list's sha256 and the "
                                                     "hub's ETag differ");
          sha256 = m.etag;
        }
        const fs::path blob = BlobPath(repo, m.etag);
        BlobLock lock(LockPath(settings.cache_root, ref, m.etag));
        std::error_code ec;
        bool fetched = false;
        if (fs::is_regular_file(blob, ec) && fs::file_size(blob, ec) == m.size) {
          std::lock_guard lk(mutex);
          if (observer) {
            observer->OnFileStart(file.path, m.size, m.size);
            observer->OnFileDone(file.path, m.size, false);
          }
        } else {
          BlobSource source;
          source.url = m.download_url;
          source.size = m.size;
          source.sha256 = sha256;
          source.label = file.path;
          // The token goes to the hub only, not to a blob host on another origin.
          if (Origin(source.url) == Origin(settings.endpoint))
            source.headers = AuthHeaders(settings);
          BlobProgress progress;
          progress.on_start = [&](uint64_t present) {
            std::lock_guard lk(mutex);
            if (observer) observer->OnFileStart(file.path, m.size, present);
          };
          progress.on_bytes = [&](uint64_t n) {
            std::lock_guard lk(mutex);
            if (observer) observer->OnFileBytes(file.path, n);
          };
          progress.on_retry = [&](uint64_t present, const std::string& why) {
            std::lock_guard lk(mutex);
            if (observer) observer->OnFileRetry(file.path, present, why);
          };
          progress.cancelled = [&] { return failed.load(); };
          downloaded += DownloadBlob(session, source, blob, options.retries, progress);
          fetched = true;
        }
        LinkSnapshotFile(repo, info.commit, file.path, m.etag);
        std::lock_guard lk(mutex);
        if (observer && fetched) observer->OnFileDone(file.path, m.size, true);
      } catch (const Error& e) {
        std::lock_guard lk(mutex);
        if (!error) error = e;
        failed = true;
      } catch (const std::exception& e) {
        std::lock_guard lk(mutex);
        if (!error) error = Error(ErrorCode::kIo, file.path + ": " + e.what());
        failed = true;
      }
    }
  };
  const int jobs = std::clamp(options.jobs, 1, 16);
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<HttpSession>> sessions;
  for (int j = 1; j < jobs && static_cast<size_t>(j) < files.size(); ++j) {
    sessions.push_back(std::make_unique<HttpSession>(options.limits));
    threads.emplace_back(worker, std::ref(*sessions.back()));
  }
  worker(http);
  for (std::thread& t : threads) t.join();
  if (error) throw *error;

  PullResult result;
  result.commit = info.commit;
  result.snapshot = SnapshotFolder(repo, info.commit);
  result.files = files.size();
  result.bytes_downloaded = downloaded;
  return result;
}

}  // namespace qwenvl::hub
