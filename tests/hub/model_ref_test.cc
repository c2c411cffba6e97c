// Model names, revisions and repository paths: what becomes a cache path or a URL.
#include "hub/model_ref.h"

#include <gtest/gtest.h>

#include <vector>

#include "util/error.h"

namespace qwenvl::hub {
namespace {

TEST(ModelRefTest, ParsesNamesAndRevisions) {
  const ModelRef a = ParseModelRef("Qwen/Qwen2.5-VL-3B-Instruct");
  EXPECT_EQ(a.org, "Qwen");
  EXPECT_EQ(a.name, "Qwen2.5-VL-3B-Instruct");
  EXPECT_EQ(a.revision, "main");
  EXPECT_EQ(a.RepoId(), "Qwen/Qwen2.5-VL-3B-Instruct");
  const ModelRef b = ParseModelRef("org_1/m.v2@refs/pr/12");
  EXPECT_EQ(b.revision, "refs/pr/12");
  EXPECT_EQ(ParseModelRef("a/b@0123456789abcdef0123456789abcdef01234567").revision,
            "0123456789abcdef0123456789abcdef01234567");
}

TEST(ModelRefTest, RefusesHostileNames) {
  for (const std::string& bad : std::vector<std::string>{"",
                                                         "/",
                                                         "Qwen",
                                                         "Qwen/",
                                                         "/Qwen",
                                                         "../x",
                                                         "a/..",
                                                         "a/../b",
                                                         "a/b/c",
                                                         "./a",
                                                         "a/.",
                                                         "/abs/path",
                                                         "a/b c",
                                                         "a/b;rm",
                                                         "a--b/c",
                                                         "a/b--c",
                                                         "-a/b",
                                                         "a/b-",
                                                         ".a/b",
                                                         "a/b.",
                                                         "a/b@",
                                                         "a/b@..",
                                                         "a/b@x/../y",
                                                         "a/b@/x",
                                                         "a/b@x//y",
                                                         "a/b@x y",
                                                         "a/b@x\\y",
                                                         "a\\b/c",
                                                         "a/b%2e",
                                                         "a/b\n",
                                                         std::string("a/b\0c", 5),
                                                         "é/b",
                                                         std::string(97, 'a') + "/b",
                                                         "a/" + std::string(97, 'b'),
                                                         "a/b@" + std::string(201, 'r'),
                                                         std::string(5000, 'x')}) {
    EXPECT_FALSE(TryParseModelRef(bad)) << bad;
    EXPECT_THROW(ParseModelRef(bad), Error) << bad;
  }
  EXPECT_TRUE(TryParseModelRef(std::string(96, 'a') + "/" + std::string(96, 'b')));
}

TEST(ModelRefTest, ErrorsSayWhatIsWrong) {
  try {
    ParseModelRef("justaname");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("ORG/NAME"), std::string::npos) << e.what();
  }
}

TEST(ModelRefTest, SafeRepoPaths) {
  for (const std::string ok :
       {"config.json", "a/b/c.bin", "x y.txt", "ünïcode.json", ".gitattributes"})
    EXPECT_TRUE(IsSafeRepoPath(ok)) << ok;
  for (const std::string& bad :
       std::vector<std::string>{"", "/etc/passwd", "..", "../a", "a/../../b", "a/..", "a//b", "a/",
                                "./a", "a/./b", "a\\b", std::string("a\0b", 3), "a\tb", "a\x7f",
                                std::string(1025, 'a'), std::string(256, 'a') + "/b"})
    EXPECT_FALSE(IsSafeRepoPath(bad)) << bad;
}

TEST(ModelRefTest, CommitHashes) {
  EXPECT_TRUE(IsCommitHash("0123456789abcdef0123456789abcdef01234567"));
  EXPECT_FALSE(IsCommitHash("0123456789ABCDEF0123456789abcdef01234567"));
  EXPECT_FALSE(IsCommitHash("0123456789abcdef0123456789abcdef0123456"));
  EXPECT_FALSE(IsCommitHash("main"));
}

}  // namespace
}  // namespace qwenvl::hub
