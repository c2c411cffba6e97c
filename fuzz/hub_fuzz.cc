// Fuzz target: the hub inputs that become cache paths and URLs. The first byte picks the parser:
// a model reference (ORG/NAME[@REV]), an ETag header, or the revision API's JSON. Whatever is
// accepted must be safe: repository parts and paths free of "..", absolute paths and separators
// where none belong, ETags plain hex.
#include <cstdint>
#include <filesystem>
#include <string>

#include "hub/cache_layout.h"
#include "hub/model_ref.h"
#include "hub/revision_info.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  using namespace qwenvl::hub;
  switch (data[0] % 3) {
    case 0:
      if (const auto ref = TryParseModelRef(text)) {
        QWENVL_CHECK(ref->org.find('/') == std::string::npos && ref->org != ".." &&
                     ref->name.find('/') == std::string::npos && ref->name != "..");
        QWENVL_CHECK(IsValidRevision(ref->revision));
        QWENVL_CHECK(RepoFolderName(*ref).find('/') == std::string::npos);
      }
      break;
    case 1:
      if (const auto etag = NormalizeEtag(text))
        QWENVL_CHECK(etag->find_first_not_of("0123456789abcdef") == std::string::npos);
      break;
    default:
      try {
        const RevisionInfo info = ParseRevisionInfo(text);
        QWENVL_CHECK(IsCommitHash(info.commit));
        for (const RepoFile& f : info.files) {
          QWENVL_CHECK(IsSafeRepoPath(f.path));
          // Relative, with no "." or ".." component ("model../x" is a file name, not a way up).
          const std::filesystem::path path(f.path);
          QWENVL_CHECK(path.is_relative());
          for (const std::filesystem::path& part : path) QWENVL_CHECK(part != ".." && part != ".");
        }
      } catch (const qwenvl::Error&) {
      }
  }
  return 0;
}
