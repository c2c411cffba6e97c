// A model named as on the Hugging Face hub: ORG/NAME, optionally @REVISION (a branch, a tag or a
// commit). Names, revisions and repository file paths become cache paths and URLs, so each is
// checked strictly here: nothing that could leave its folder or change the URL's meaning passes.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace qwenvl::hub {

struct ModelRef {
  std::string org, name;
  std::string revision = "main";
  std::string RepoId() const { return org + "/" + name; }
};

// ORG/NAME[@REV]; throws Error(kInvalidArgument) naming what is wrong.
ModelRef ParseModelRef(std::string_view text);
// The same, nullopt instead of an error (for telling a reference from a path).
std::optional<ModelRef> TryParseModelRef(std::string_view text);

// One part of a repository id: 1-96 of [A-Za-z0-9._-], not starting or ending with '.' or '-',
// no "--" or ".." (the hub's rules; "--" would make the cache folder name ambiguous).
bool IsValidRepoPart(std::string_view part);
// A branch, tag or commit: [A-Za-z0-9._/-], at most 200 characters, no empty, "." or ".."
// component (branch names such as refs/pr/1 hold slashes).
bool IsValidRevision(std::string_view revision);
// A path inside a repository as the revision API lists it: relative, '/'-separated, no empty,
// "." or ".." component, no control characters or backslashes, at most 1024 bytes (255 per part).
bool IsSafeRepoPath(std::string_view path);
// A commit hash as the hub writes it: 40 lowercase hex digits.
bool IsCommitHash(std::string_view text);

}  // namespace qwenvl::hub
