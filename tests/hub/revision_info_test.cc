// The revision API's answer: the commit, the files, their sizes and LFS hashes.
#include "hub/revision_info.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "util/error.h"

namespace qwenvl::hub {
namespace {

const std::string kSha = "0123456789abcdef0123456789abcdef01234567";
const std::string kLfs = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

TEST(RevisionInfoTest, ReadsCommitFilesSizesAndHashes) {
  const RevisionInfo info = ParseRevisionInfo(
      R"({"_id": "x", "id": "Qwen/M", "sha": ")" + kSha +
      R"(", "siblings": [{"rfilename": "config.json", "size": 12, "blobId": "b"},
          {"rfilename": "m.safetensors", "size": 99, "lfs": {"sha256": ")" +
      kLfs + R"(", "size": 5000, "pointerSize": 135}}, {"rfilename": "a/b.txt"}]})");
  EXPECT_EQ(info.commit, kSha);
  ASSERT_EQ(info.files.size(), 3u);
  EXPECT_EQ(info.files[0].path, "config.json");
  EXPECT_EQ(info.files[0].size, 12u);
  EXPECT_FALSE(info.files[0].sha256);
  EXPECT_EQ(info.files[1].size, 5000u);  // the LFS object's size, not the pointer's
  EXPECT_EQ(info.files[1].sha256, kLfs);
  EXPECT_EQ(info.files[2].path, "a/b.txt");
  EXPECT_FALSE(info.files[2].size);
}

TEST(RevisionInfoTest, RefusesBadListings) {
  const std::string head = R"({"sha": ")" + kSha + R"(", "siblings": )";
  for (const std::string& bad : std::vector<std::string>{
           "", "[]", "null", R"({"siblings": []})", R"({"sha": 5, "siblings": []})",
           R"({"sha": "../../x", "siblings": []})", head + "{}}", head + "[1]}",
           head + R"([{"rfilename": "a"}, {"rfilename": "a"}]})",
           head + R"([{"rfilename": "../a"}]})", head + R"([{"rfilename": "/a"}]})",
           head + R"([{"rfilename": "m", "lfs": {"sha256": "../x"}}]})",
           head + R"([{"size": 3}]})"}) {
    EXPECT_THROW(ParseRevisionInfo(bad), Error) << bad;
  }
}

}  // namespace
}  // namespace qwenvl::hub
