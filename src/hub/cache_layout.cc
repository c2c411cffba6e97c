#include "hub/cache_layout.h"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <random>
#include <sstream>

#include "util/error.h"
#include "util/replace_file.h"

namespace qwenvl::hub {
namespace {

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A file's first line, at most `limit` bytes; nullopt when it cannot be read.
std::optional<std::string> ReadSmallFile(const fs::path& p, size_t limit) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::string s(limit, '\0');
  in.read(s.data(), static_cast<std::streamsize>(limit));
  s.resize(static_cast<size_t>(in.gcount()));
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

uint64_t FolderBytes(const fs::path& folder) {
  uint64_t total = 0;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += it->file_size(ec);
  }
  return total;
}

}  // namespace

std::string RepoFolderName(const ModelRef& ref) { return "models--" + ref.org + "--" + ref.name; }

fs::path RepoFolder(const fs::path& root, const ModelRef& ref) {
  QWENVL_CHECK(IsValidRepoPart(ref.org) && IsValidRepoPart(ref.name));
  return root / RepoFolderName(ref);
}

fs::path BlobPath(const fs::path& repo_folder, const std::string& etag) {
  QWENVL_CHECK(NormalizeEtag(etag).value_or("") == etag);
  return repo_folder / "blobs" / etag;
}

fs::path SnapshotFolder(const fs::path& repo_folder, const std::string& commit) {
  QWENVL_CHECK(IsCommitHash(commit));
  return repo_folder / "snapshots" / commit;
}

fs::path RefPath(const fs::path& repo_folder, const std::string& revision) {
  QWENVL_CHECK(IsValidRevision(revision));
  return repo_folder / "refs" / revision;
}

fs::path LockPath(const fs::path& root, const ModelRef& ref, const std::string& etag) {
  return root / ".locks" / RepoFolderName(ref) / (etag + ".lock");
}

std::optional<std::string> NormalizeEtag(std::string_view header) {
  if (header.starts_with("W/")) header.remove_prefix(2);
  if (header.size() >= 2 && header.front() == '"' && header.back() == '"')
    header = header.substr(1, header.size() - 2);
  if ((header.size() != 40 && header.size() != 64) || !IsHex(header)) return std::nullopt;
  return std::string(header);
}

bool IsSha256Etag(std::string_view etag) { return etag.size() == 64 && IsHex(etag); }

std::optional<std::string> CachedCommit(const fs::path& repo_folder, const std::string& revision) {
  if (IsCommitHash(revision)) return revision;
  if (!IsValidRevision(revision)) return std::nullopt;
  auto commit = ReadSmallFile(RefPath(repo_folder, revision), 64);
  if (!commit || !IsCommitHash(*commit)) return std::nullopt;
  return commit;
}

std::optional<fs::path> FindCachedModel(const fs::path& root, const ModelRef& ref) {
  const fs::path repo = RepoFolder(root, ref);
  const auto commit = CachedCommit(repo, ref.revision);
  if (!commit) return std::nullopt;
  const fs::path snapshot = SnapshotFolder(repo, *commit);
  std::error_code ec;
  if (!fs::is_regular_file(snapshot / "config.json", ec)) return std::nullopt;
  return snapshot;
}

void WriteRef(const fs::path& repo_folder, const std::string& revision, const std::string& commit) {
  QWENVL_CHECK(IsCommitHash(commit));
  if (revision == commit) return;  // huggingface_hub writes no ref for a commit hash
  const fs::path path = RefPath(repo_folder, revision);
  fs::create_directories(path.parent_path());
  ReplaceFile(path.string(), commit);  // concurrent pulls of one repository write the same ref
}

void LinkSnapshotFile(const fs::path& repo_folder, const std::string& commit,
                      const std::string& repo_path, const std::string& etag) {
  QWENVL_CHECK(IsSafeRepoPath(repo_path));
  const fs::path link = SnapshotFolder(repo_folder, commit) / repo_path;
  fs::create_directories(link.parent_path());
  // ../../blobs/<etag> from snapshots/<commit>/, one more ../ per folder in the repository path.
  std::string target = "../../";
  for (char c : repo_path)
    if (c == '/') target += "../";
  target += "blobs/" + etag;
  std::error_code ec;
  if (fs::is_symlink(link, ec) && fs::read_symlink(link, ec) == target) return;
  // Two pulls of one repository link the same files at once: the link is made under a name of its
  // own and renamed over the old one, which never leaves a moment without a link or a clash.
  // The name is unique in this process (the counter) and across runs (a random part chosen once):
  // a pid alone repeats from one container start to the next, and a link left by a killed pull
  // would then stand in the way.
  static const uint64_t run = std::random_device{}() ^ (uint64_t{std::random_device{}()} << 32);
  static std::atomic<uint64_t> links{0};
  const fs::path tmp = link.string() + std::string(kTemporaryMark) + std::to_string(run) + "." +
                       std::to_string(links.fetch_add(1));
  fs::create_symlink(target, tmp);
  fs::rename(tmp, link, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw Error(ErrorCode::kIo, link.string() + ": cannot link: " + ec.message());
  }
}

std::vector<CachedModel> ListCachedModels(const fs::path& root) {
  std::vector<CachedModel> models;
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string folder = it->path().filename().string();
    if (!folder.starts_with("models--") || !it->is_directory(ec) || it->is_symlink(ec)) continue;
    const std::string rest = folder.substr(8);
    const size_t sep = rest.find("--");
    if (sep == std::string::npos) continue;
    const auto ref = TryParseModelRef(rest.substr(0, sep) + "/" + rest.substr(sep + 2));
    if (!ref) continue;
    CachedModel m;
    m.repo_id = ref->RepoId();
    const fs::path repo = it->path();
    std::error_code e2;
    for (fs::recursive_directory_iterator r(repo / "refs", e2), rend; !e2 && r != rend;
         r.increment(e2)) {
      if (!r->is_regular_file(e2) || IsTemporaryName(r->path().filename().string())) continue;
      const std::string name = fs::relative(r->path(), repo / "refs", e2).generic_string();
      m.revisions.push_back(name);
      m.revision_commits.push_back(CachedCommit(repo, name).value_or("?"));
    }
    for (fs::directory_iterator s(repo / "snapshots", e2), send; !e2 && s != send;
         s.increment(e2)) {
      m.snapshots.push_back(s->path().filename().string());
      std::error_code e3;
      for (fs::recursive_directory_iterator f(s->path(), e3), fend; !e3 && f != fend;
           f.increment(e3)) {
        if (f->is_directory(e3) && !f->is_symlink(e3)) continue;
        if (IsTemporaryName(f->path().filename().string())) continue;
        ++m.files;
        if (!fs::exists(f->path(), e3)) ++m.missing_files;  // follows the link
      }
    }
    std::sort(m.snapshots.begin(), m.snapshots.end());
    for (fs::directory_iterator b(repo / "blobs", e2), bend; !e2 && b != bend; b.increment(e2))
      if (b->path().extension() == ".incomplete") ++m.incomplete_blobs;
    m.size_on_disk = FolderBytes(repo / "blobs");
    models.push_back(std::move(m));
  }
  std::sort(models.begin(), models.end(),
            [](const CachedModel& a, const CachedModel& b) { return a.repo_id < b.repo_id; });
  return models;
}

uint64_t RemoveCachedModel(const fs::path& root, const ModelRef& ref) {
  const fs::path repo = RepoFolder(root, ref);  // checked name: a direct child of root
  std::error_code ec;
  const auto status = fs::symlink_status(repo, ec);
  if (ec || !fs::exists(status))
    throw Error(ErrorCode::kNotFound,
                ref.RepoId() + " is not in the cache (" + root.string() + ")");
  uint64_t freed = 0;
  if (fs::is_directory(status)) freed = FolderBytes(repo / "blobs");
  // A symlinked folder is unlinked, never followed: remove_all does not descend into links.
  fs::remove_all(repo);
  fs::remove_all(root / ".locks" / RepoFolderName(ref), ec);
  return freed;
}

}  // namespace qwenvl::hub
