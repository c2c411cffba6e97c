#include "model/rope_index.h"

#include <gtest/gtest.h>

#include <vector>

#include "util/error.h"

namespace qwenvl::model {
namespace {

// The published special ids (model-spec §8.2) with the 3B vision settings.
io::ModelConfig TestConfig() {
  io::ModelConfig c;
  c.vision_start_token_id = 151652;
  c.vision_end_token_id = 151653;
  c.image_token_id = 151655;
  c.video_token_id = 151656;
  c.vision.spatial_merge_size = 2;
  c.vision.tokens_per_second = 2.0;
  return c;
}

constexpr TokenId kText = 100, kStart = 151652, kEnd = 151653, kImage = 151655, kVideo = 151656;

void AppendBlock(std::vector<TokenId>& ids, TokenId pad, int64_t tokens) {
  ids.push_back(kStart);
  ids.insert(ids.end(), tokens, pad);
  ids.push_back(kEnd);
}

PositionIds Compute(const std::vector<TokenId>& ids, const std::vector<GridThw>& images,
                    const std::vector<GridThw>& videos, const std::vector<double>& spg = {}) {
  return ComputePositionIds(TestConfig(), {ids, images, videos, spg});
}

TEST(RopeIndex, TextOnlyCountsFromZero) {
  const std::vector<TokenId> ids(7, kText);
  const PositionIds p = Compute(ids, {}, {});
  const std::vector<int64_t> want = {0, 1, 2, 3, 4, 5, 6};
  EXPECT_EQ(p.t, want);
  EXPECT_EQ(p.h, want);
  EXPECT_EQ(p.w, want);
  EXPECT_EQ(p.rope_delta, 0);
}

// §5.2: an image block (t = 1) sits at the next text position; h and w are the merged row and
// column; <|vision_end|> gets max + 1.
TEST(RopeIndex, ImageBlockUsesGridCoordinates) {
  std::vector<TokenId> ids = {kText, kText};
  AppendBlock(ids, kImage, 6);  // grid (1, 4, 6): merged 2 × 3
  ids.push_back(kText);
  const PositionIds p = Compute(ids, {{1, 4, 6}}, {});
  EXPECT_EQ(p.t, (std::vector<int64_t>{0, 1, 2, 3, 3, 3, 3, 3, 3, 6, 7}));
  EXPECT_EQ(p.h, (std::vector<int64_t>{0, 1, 2, 3, 3, 3, 4, 4, 4, 6, 7}));
  EXPECT_EQ(p.w, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7}));
  EXPECT_EQ(p.rope_delta, 8 - 11);
}

// §5.3 with second_per_grid_ts 1.0 (2 fps): one temporal patch = 2 position units.
TEST(RopeIndex, VideoTemporalPositionsAtOneSecondPerGrid) {
  std::vector<TokenId> ids = {kText};
  AppendBlock(ids, kVideo, 3);  // grid (3, 2, 2): merged 1 × 1 per frame group
  const PositionIds p = Compute(ids, {}, {{3, 2, 2}}, {1.0});
  EXPECT_EQ(p.t, (std::vector<int64_t>{0, 1, 2, 4, 6, 7}));
  EXPECT_EQ(p.h, (std::vector<int64_t>{0, 1, 2, 2, 2, 7}));
  EXPECT_EQ(p.w, (std::vector<int64_t>{0, 1, 2, 2, 2, 7}));
  EXPECT_EQ(p.rope_delta, 8 - 6);
  // Without second_per_grid_ts every video counts as 1.0 (§5.3).
  EXPECT_EQ(Compute(ids, {}, {{3, 2, 2}}).t, p.t);
}

// §5.3: the float rule truncates the product, it does not truncate spg first.
TEST(RopeIndex, FractionalSecondsPerGridUseTheFloatProduct) {
  const std::vector<int64_t> want = {0, 2, 4, 6, 8, 11, 13};
  for (int64_t it = 0; it < 7; ++it) {
    EXPECT_EQ(VideoTemporalPosition(it, 1.1085, 2.0), want[it]) << it;
  }
  EXPECT_EQ(VideoTemporalPosition(3, 0.5, 2.0), 3);  // the integer rule would give 0
  std::vector<TokenId> ids;
  AppendBlock(ids, kVideo, 4);
  const PositionIds p = Compute(ids, {}, {{4, 2, 2}}, {0.5});
  EXPECT_EQ(p.t, (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(p.h, (std::vector<int64_t>{0, 1, 1, 1, 1, 5}));
}

TEST(RopeIndex, TwoImagesFollowEachOther) {
  std::vector<TokenId> ids;
  AppendBlock(ids, kImage, 4);  // grid (1, 4, 4): merged 2 × 2
  AppendBlock(ids, kImage, 2);  // grid (1, 2, 4): merged 1 × 2
  const PositionIds p = Compute(ids, {{1, 4, 4}, {1, 2, 4}}, {});
  EXPECT_EQ(p.t, (std::vector<int64_t>{0, 1, 1, 1, 1, 3, 4, 5, 5, 7}));
  EXPECT_EQ(p.h, (std::vector<int64_t>{0, 1, 1, 2, 2, 3, 4, 5, 5, 7}));
  EXPECT_EQ(p.w, (std::vector<int64_t>{0, 1, 2, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(p.rope_delta, 8 - 10);
}

// Images and videos are consumed in prompt order, whichever comes first.
TEST(RopeIndex, VideoThenImage) {
  std::vector<TokenId> ids;
  AppendBlock(ids, kVideo, 2);  // grid (2, 2, 2), spg 2.0: T = 0, 4
  AppendBlock(ids, kImage, 1);  // grid (1, 2, 2)
  const PositionIds p = Compute(ids, {{1, 2, 2}}, {{2, 2, 2}}, {2.0});
  EXPECT_EQ(p.t, (std::vector<int64_t>{0, 1, 5, 6, 7, 8, 9}));
  EXPECT_EQ(p.h, (std::vector<int64_t>{0, 1, 1, 6, 7, 8, 9}));
  EXPECT_EQ(p.rope_delta, 10 - 7);
}

TEST(RopeIndex, MismatchedGridsAreErrors) {
  std::vector<TokenId> ids;
  AppendBlock(ids, kImage, 4);
  EXPECT_THROW(Compute(ids, {}, {}), Error);                      // no grid for the block
  EXPECT_THROW(Compute(ids, {{1, 4, 4}, {1, 4, 4}}, {}), Error);  // a grid too many
  EXPECT_THROW(Compute(ids, {{1, 4, 6}}, {}), Error);             // 6 pads needed, 4 present
  EXPECT_THROW(Compute(ids, {{1, 4, 3}}, {}), Error);             // w not a multiple of 2
  std::vector<TokenId> vid;
  AppendBlock(vid, kVideo, 1);
  EXPECT_THROW(Compute(vid, {}, {{1, 2, 2}}, {1.0, 1.0}), Error);  // one spg per video
}

}  // namespace
}  // namespace qwenvl::model
