#include "media/resize_bicubic.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "media/image_decode.h"
#include "media/smart_resize.h"
#include "media_test_util.h"
#include "util/error.h"

namespace qwenvl::media {
namespace {

using testing::PreprocessData;
using testing::ReadJson;
using testing::ReadSafetensors;

// Count of bytes that differ, and the first one, for a readable failure.
::testing::AssertionResult SameBytes(const RgbImage& got, const RgbImage& want) {
  if (got.width != want.width || got.height != want.height) {
    return ::testing::AssertionFailure() << "size " << got.width << "x" << got.height
                                         << " != " << want.width << "x" << want.height;
  }
  size_t diff = 0, first = 0;
  for (size_t i = 0; i < got.pixels.size(); ++i) {
    if (got.pixels[i] != want.pixels[i] && diff++ == 0) first = i;
  }
  if (diff == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << diff << " bytes differ; first at " << first << ": " << int(got.pixels[first]) << " vs "
         << int(want.pixels[first]);
}

// Sizes chosen to hit up/down scaling, odd sizes, 1-pixel sides and one-axis resizes, against
// Debian's Pillow 9.4.0 (tests/data/preprocess/make_pil_cases.py).
TEST(ResizeBicubic, MatchesPilOnSyntheticSizes) {
  const auto t = ReadSafetensors(PreprocessData("pil_resize.safetensors"));
  int cases = 0;
  for (const auto& [name, tensor] : t) {
    if (name.rfind("out.", 0) != 0) continue;
    int src_index = 0, w = 0, h = 0;
    ASSERT_EQ(std::sscanf(name.c_str(), "out.%d.%dx%d", &src_index, &w, &h), 3) << name;
    const RgbImage src = t.at("src." + std::to_string(src_index)).image();
    EXPECT_TRUE(SameBytes(ResizeBicubic(src, w, h), tensor.image())) << name;
    ++cases;
  }
  EXPECT_EQ(cases, 26);
}

// Every resized_rgb of the fixture: our decoder, smart_resize and resize give PIL's bytes.
TEST(ResizeBicubic, MatchesFixtureResizedRgb) {
  const auto j = ReadJson(PreprocessData("images.json"));
  const auto t = ReadSafetensors(PreprocessData("images.safetensors"));
  ThreadPool pool(2);
  int cases = 0;
  for (const auto& c : j.at("cases")) {
    if (c["setting"] == "default") continue;
    const std::string image = c["image"];
    const RgbImage src = DecodeImageFile(PreprocessData("photos/" + image));
    ASSERT_EQ(src.height, c["orig_hw"][0].get<int>()) << image;
    ASSERT_EQ(src.width, c["orig_hw"][1].get<int>()) << image;
    const ResizedSize size =
        SmartResize(src.height, src.width, 28, c["min_pixels"], c["max_pixels"]);
    const std::string key =
        image.substr(0, image.rfind('.')) + "." + c["setting"].get<std::string>() + ".resized_rgb";
    const RgbImage want = t.at(key).image();
    EXPECT_TRUE(SameBytes(ResizeBicubic(src, size.width, size.height), want)) << key;
    EXPECT_TRUE(SameBytes(ResizeBicubic(src, size.width, size.height, &pool), want)) << key;
    ++cases;
  }
  EXPECT_EQ(cases, 14);
}

TEST(ResizeBicubic, IdentityIsACopy) {
  const auto t = ReadSafetensors(PreprocessData("pil_resize.safetensors"));
  const RgbImage src = t.at("src.4").image();
  EXPECT_TRUE(SameBytes(ResizeBicubic(src, src.width, src.height), src));
}

TEST(ResizeBicubic, PoolGivesTheSameBytes) {
  const auto t = ReadSafetensors(PreprocessData("pil_resize.safetensors"));
  const RgbImage src = t.at("src.5").image();
  ThreadPool pool(3);
  EXPECT_TRUE(SameBytes(ResizeBicubic(src, 213, 301, &pool), ResizeBicubic(src, 213, 301)));
  EXPECT_TRUE(SameBytes(ResizeBicubic(src, 56, 84, &pool), ResizeBicubic(src, 56, 84)));
}

TEST(ResizeBicubic, RejectsBadSizes) {
  RgbImage src;
  src.width = 2;
  src.height = 2;
  src.pixels.assign(12, 7);
  EXPECT_THROW(ResizeBicubic(src, 0, 5), Error);
  EXPECT_THROW(ResizeBicubic(src, 5, -1), Error);
  src.pixels.resize(5);
  EXPECT_THROW(ResizeBicubic(src, 4, 4), Error);
  EXPECT_THROW(ResizeBicubic(RgbImage{}, 4, 4), Error);
}

}  // namespace
}  // namespace qwenvl::media
