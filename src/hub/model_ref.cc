#include "hub/model_ref.h"

#include "util/error.h"

namespace qwenvl::hub {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// Why `text` is not a model reference, or empty when it is one.
std::string Problem(std::string_view text, ModelRef* out) {
  if (text.size() > 400) return "longer than 400 characters";
  std::string_view repo = text;
  std::string_view revision = "main";
  if (const size_t at = text.find('@'); at != std::string_view::npos) {
    repo = text.substr(0, at);
    revision = text.substr(at + 1);
    if (!IsValidRevision(revision)) return "the revision after '@' is not a branch, tag or commit";
  }
  const size_t slash = repo.find('/');
  if (slash == std::string_view::npos) return "not of the form ORG/NAME";
  const std::string_view org = repo.substr(0, slash), name = repo.substr(slash + 1);
  if (!IsValidRepoPart(org))
    return "the organisation must be 1-96 of A-Z a-z 0-9 . _ - (no '--' or '..', no leading or "
           "trailing '.' or '-')";
  if (!IsValidRepoPart(name))
    return "the name must be 1-96 of A-Z a-z 0-9 . _ - (no '--' or '..', no leading or trailing "
           "'.' or '-')";
  if (out) *out = ModelRef{std::string(org), std::string(name), std::string(revision)};
  return {};
}

}  // namespace

bool IsValidRepoPart(std::string_view part) {
  if (part.empty() || part.size() > 96) return false;
  for (char c : part)
    if (!IsNameChar(c)) return false;
  if (part.front() == '.' || part.front() == '-' || part.back() == '.' || part.back() == '-')
    return false;
  return part.find("--") == std::string_view::npos && part.find("..") == std::string_view::npos;
}

bool IsValidRevision(std::string_view revision) {
  if (revision.empty() || revision.size() > 200) return false;
  for (char c : revision)
    if (!IsNameChar(c) && c != '/') return false;
  size_t start = 0;
  while (start <= revision.size()) {
    size_t end = revision.find('/', start);
    if (end == std::string_view::npos) end = revision.size();
    const std::string_view part = revision.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

bool IsSafeRepoPath(std::string_view path) {
  if (path.empty() || path.size() > 1024) return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || part.size() > 255) return false;
    start = end + 1;
  }
  for (unsigned char c : path)
    if (c < 0x20 || c == 0x7f || c == '\\') return false;
  return true;
}

bool IsCommitHash(std::string_view text) {
  if (text.size() != 40) return false;
  for (char c : text)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

ModelRef ParseModelRef(std::string_view text) {
  ModelRef ref;
  const std::string problem = Problem(text, &ref);
  if (!problem.empty())
    throw Error(ErrorCode::kInvalidArgument,
                "'" + std::string(text.substr(0, 100)) + "' is not a hub model name: " + problem);
  return ref;
}

std::optional<ModelRef> TryParseModelRef(std::string_view text) {
  ModelRef ref;
  if (!Problem(text, &ref).empty()) return std::nullopt;
  return ref;
}

}  // namespace qwenvl::hub
