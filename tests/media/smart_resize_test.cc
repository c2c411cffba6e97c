#include "media/smart_resize.h"

#include <gtest/gtest.h>

#include "media_test_util.h"
#include "util/error.h"

namespace qwenvl::media {
namespace {

using testing::PreprocessData;
using testing::ReadJson;

TEST(SmartResize, AllFixtureCases) {
  const auto j = ReadJson(PreprocessData("images.json"));
  ASSERT_EQ(j.at("smart_resize").size(), 56u);
  for (const auto& c : j.at("smart_resize")) {
    ASSERT_FALSE(c.contains("error")) << c.dump();
    const ResizedSize r = SmartResize(c["hw"][0], c["hw"][1], 28, c["min_pixels"], c["max_pixels"]);
    EXPECT_EQ(r.height, c["resized_hw"][0].get<int64_t>()) << c.dump();
    EXPECT_EQ(r.width, c["resized_hw"][1].get<int64_t>()) << c.dump();
  }
}

TEST(SmartResize, PhotoFixtureCases) {
  const auto j = ReadJson(PreprocessData("images.json"));
  int n = 0;
  for (const auto& c : j.at("cases")) {
    const ResizedSize r =
        SmartResize(c["orig_hw"][0], c["orig_hw"][1], 28, c["min_pixels"], c["max_pixels"]);
    EXPECT_EQ(r.height, c["resized_hw"][0].get<int64_t>()) << c.dump();
    EXPECT_EQ(r.width, c["resized_hw"][1].get<int64_t>()) << c.dump();
    ++n;
  }
  EXPECT_EQ(n, 21);
}

TEST(SmartResize, SpecExamplesAndHalfEven) {
  // model-spec §6.2: 640x480 (WxH) -> 644x476; 70x70 -> 56x56 (70/28 = 2.5 rounds to 2).
  EXPECT_EQ(SmartResize(480, 640, 28, 3136, 12845056).height, 476);
  EXPECT_EQ(SmartResize(480, 640, 28, 3136, 12845056).width, 644);
  EXPECT_EQ(SmartResize(70, 70, 28, 3136, 12845056).height, 56);
  EXPECT_EQ(SmartResize(126, 126, 28, 3136, 12845056).height, 112);  // 4.5 -> 4
  EXPECT_EQ(SmartResize(98, 98, 28, 3136, 12845056).height, 112);    // 3.5 -> 4
}

TEST(SmartResize, AspectRatioLimit) {
  EXPECT_NO_THROW(SmartResize(10, 2000, 28, 3136, 12845056));  // exactly 200
  try {
    SmartResize(10, 2001, 28, 3136, 12845056);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("200"), std::string::npos);
  }
  EXPECT_THROW(SmartResize(2001, 10, 28, 3136, 12845056), Error);
}

TEST(SmartResize, RejectsBadInput) {
  EXPECT_THROW(SmartResize(0, 10, 28, 3136, 12845056), Error);
  EXPECT_THROW(SmartResize(10, -1, 28, 3136, 12845056), Error);
  EXPECT_THROW(SmartResize(10, 10, 0, 3136, 12845056), Error);
  EXPECT_THROW(SmartResize(10, 10, 28, 5000, 4000), Error);
}

TEST(SmartResize, ClampsToOneFactor) {
  // The floor branch gives floor(15 / 3.79 / 28) = 0 rows here; clamped to 28 (see the header).
  const ResizedSize r = SmartResize(15, 3000, 28, 784, 3136);
  EXPECT_EQ(r.height, 28);
  EXPECT_EQ(r.width, 784);
}

}  // namespace
}  // namespace qwenvl::media
