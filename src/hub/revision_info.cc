#include "hub/revision_info.h"

#include <nlohmann/json.hpp>
#include <set>

#include "hub/cache_layout.h"
#include "hub/model_ref.h"
#include "util/error.h"

namespace qwenvl::hub {

RevisionInfo ParseRevisionInfo(std::string_view text) {
  using nlohmann::json;
  if (text.size() > kMaxRevisionInfoBytes)
    throw Error(ErrorCode::kOutOfRange, "the hub's file list is larger than " +
                                            std::to_string(kMaxRevisionInfoBytes >> 20) + " MiB");
  const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) throw Error(ErrorCode::kCorruptFile, "the hub's file list is not JSON");
  RevisionInfo info;
  const auto sha = doc.find("sha");
  if (sha == doc.end() || !sha->is_string() || !IsCommitHash(sha->get<std::string>()))
    throw Error(ErrorCode::kCorruptFile, "the hub's file list names no commit (\"sha\")");
  info.commit = sha->get<std::string>();
  const auto siblings = doc.find("siblings");
  if (siblings == doc.end() || !siblings->is_array())
    throw Error(ErrorCode::kCorruptFile, "the hub's file list has no \"siblings\"");
  if (siblings->size() > kMaxRepoFiles)
    throw Error(ErrorCode::kOutOfRange, "the hub lists " + std::to_string(siblings->size()) +
                                            " files; at most " + std::to_string(kMaxRepoFiles) +
                                            " are accepted");
  std::set<std::string> seen;
  for (const json& s : *siblings) {
    if (!s.is_object()) throw Error(ErrorCode::kCorruptFile, "a listed file is not an object");
    const auto name = s.find("rfilename");
    if (name == s.end() || !name->is_string())
      throw Error(ErrorCode::kCorruptFile, "a listed file has no \"rfilename\"");
    RepoFile f;
    f.path = name->get<std::string>();
    if (!IsSafeRepoPath(f.path))
      throw Error(ErrorCode::kInvalidArgument,
                  "refused: the hub lists a file path that is not a plain relative path ('" +
                      f.path.substr(0, 200) + "')");
    if (!seen.insert(f.path).second)
      throw Error(ErrorCode::kInvalidArgument, "refused: the hub lists '" + f.path + "' twice");
    if (const auto size = s.find("size"); size != s.end() && size->is_number_unsigned())
      f.size = size->get<uint64_t>();
    if (const auto lfs = s.find("lfs"); lfs != s.end() && lfs->is_object()) {
      if (const auto h = lfs->find("sha256"); h != lfs->end() && h->is_string()) {
        if (!IsSha256Etag(h->get<std::string>()))
          throw Error(ErrorCode::kCorruptFile, "'" + f.path + "' has a malformed lfs.sha256");
        f.sha256 = h->get<std::string>();
      }
      if (const auto size = lfs->find("size"); size != lfs->end() && size->is_number_unsigned())
        f.size = size->get<uint64_t>();
    }
    info.files.push_back(std::move(f));
  }
  return info;
}

}  // namespace qwenvl::hub
