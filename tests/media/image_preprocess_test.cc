#include "media/image_preprocess.h"

#include <gtest/gtest.h>

#include "media/image_decode.h"
#include "media/preprocessor_config.h"
#include "media_test_util.h"
#include "util/error.h"

namespace qwenvl::media {
namespace {

using testing::PreprocessData;
using testing::ReadSafetensors;

TEST(PreprocessorConfig, PublishedFile) {
  const PreprocessorConfig c = LoadPreprocessorConfig(PreprocessData("preprocessor_config.json"));
  EXPECT_EQ(c.min_pixels, 3136);
  EXPECT_EQ(c.max_pixels, 12845056);
  EXPECT_EQ(c.patch_size, 14);
  EXPECT_EQ(c.merge_size, 2);
  EXPECT_EQ(c.temporal_patch_size, 2);
  EXPECT_EQ(c.image_mean, kClipMean);
  EXPECT_EQ(c.image_std, kClipStd);
  // A folder works too.
  EXPECT_EQ(LoadPreprocessorConfig(PreprocessData("")).max_pixels, 12845056);
}

TEST(PreprocessorConfig, SizeKeysAndClassDefaults) {
  PreprocessorConfig c = ParsePreprocessorConfig(
      R"({"size": {"shortest_edge": 1000, "longest_edge": 200000}, "image_mean": [0.5, 0.5, 0.5]})",
      "t");
  EXPECT_EQ(c.min_pixels, 1000);
  EXPECT_EQ(c.max_pixels, 200000);
  EXPECT_FLOAT_EQ(c.image_mean[1], 0.5f);
  c = ParsePreprocessorConfig("{}", "t");
  EXPECT_EQ(c.min_pixels, 3136);
  EXPECT_EQ(c.max_pixels, 1003520);  // the processor class default (model-spec §6.2)
}

TEST(PreprocessorConfig, BadValuesAreErrors) {
  EXPECT_THROW(ParsePreprocessorConfig("not json", "t"), Error);
  EXPECT_THROW(ParsePreprocessorConfig(R"({"min_pixels": "big"})", "t"), Error);
  EXPECT_THROW(ParsePreprocessorConfig(R"({"patch_size": 0})", "t"), Error);
  EXPECT_THROW(ParsePreprocessorConfig(R"({"image_std": [1, 0, 1]})", "t"), Error);
  EXPECT_THROW(ParsePreprocessorConfig(R"({"image_mean": [1, 2]})", "t"), Error);
  EXPECT_THROW(ParsePreprocessorConfig(R"({"min_pixels": 10, "max_pixels": 5})", "t"), Error);
  EXPECT_THROW(LoadPreprocessorConfig("/nonexistent/dir"), Error);
}

TEST(PreprocessImage, SmallBudgetMatchesFixture) {
  const auto t = ReadSafetensors(PreprocessData("images.safetensors"));
  const RgbImage img = DecodeImageFile(PreprocessData("photos/unireco_bird_example.jpg"));
  ImageBudget b;
  b.max_pixels = 3136 * 4;
  const PreprocessedImage p = PreprocessImage(img, b);
  EXPECT_EQ(p.orig_width, 1073);
  EXPECT_EQ(p.orig_height, 972);
  EXPECT_EQ(p.resized.pixels, t.at("unireco_bird_example.tiny.resized_rgb").bytes);
  EXPECT_EQ(p.patches.grid_t, 1);
  EXPECT_EQ(p.patches.grid_h, 6);
  EXPECT_EQ(p.patches.grid_w, 8);
  EXPECT_EQ(p.patches.values.size(), 48u * 1176);
}

TEST(PreprocessImage, FixedSizeRoundedAndAlignedIsIdentity) {
  const RgbImage img = DecodeImageFile(PreprocessData("decode/rgb.png"));  // 31x23
  ImageBudget b;
  b.resized_height = 100;
  b.resized_width = 60;
  PreprocessedImage p = PreprocessImage(img, b);
  EXPECT_EQ(p.resized.height, 112);
  EXPECT_EQ(p.resized.width, 56);
  // Already 56x56 and inside the budget: the resize is a copy.
  RgbImage square;
  square.width = square.height = 56;
  square.pixels.assign(56 * 56 * 3, 9);
  p = PreprocessImage(square, ImageBudget{});
  EXPECT_EQ(p.resized.pixels, square.pixels);
  EXPECT_EQ(p.patches.rows(), 16);
}

TEST(PreprocessImage, RejectsBadRequests) {
  const RgbImage img = DecodeImageFile(PreprocessData("decode/rgb.png"));
  ImageBudget half;
  half.resized_height = 56;
  EXPECT_THROW(PreprocessImage(img, half), Error);
  EXPECT_THROW(PreprocessImage(RgbImage{}, ImageBudget{}), Error);
  RgbImage thin;
  thin.width = 1;
  thin.height = 300;
  thin.pixels.assign(900, 0);
  EXPECT_THROW(PreprocessImage(thin, ImageBudget{}), Error);  // aspect ratio 300 > 200
}

}  // namespace
}  // namespace qwenvl::media
