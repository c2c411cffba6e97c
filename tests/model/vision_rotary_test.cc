#include "model/vision_rotary.h"

#include <gtest/gtest.h>

#include <cmath>

namespace qwenvl::model {
namespace {

// §3.3 with head_dim 8: two frequencies (1 and 1/100), rows in angles[0..2), columns in [2..4).
TEST(VisionRotary, AnglesFollowMergeBlockOrder) {
  const GridThw grid{2, 2, 4};  // two frames, merged 1 × 2
  const std::vector<float> a = VisionRotaryAngles({&grid, 1}, 8, 2);
  ASSERT_EQ(a.size(), 16u * 4u);
  // Patch order (§3.2): block (0,0) = (r0,c0) (r0,c1) (r1,c0) (r1,c1), then block (0,1).
  const int rows[] = {0, 0, 1, 1, 0, 0, 1, 1}, cols[] = {0, 1, 0, 1, 2, 3, 2, 3};
  for (int frame = 0; frame < 2; ++frame) {
    for (int p = 0; p < 8; ++p) {
      const float* r = a.data() + (frame * 8 + p) * 4;
      EXPECT_FLOAT_EQ(r[0], rows[p]);
      EXPECT_FLOAT_EQ(r[1], rows[p] * 0.01f);
      EXPECT_FLOAT_EQ(r[2], cols[p]);
      EXPECT_FLOAT_EQ(r[3], cols[p] * 0.01f);
    }
  }
}

TEST(VisionRotary, TablesArePermutedAndDuplicated) {
  const GridThw grid{1, 2, 4};  // merged tokens 0 and 1
  const std::vector<float> a = VisionRotaryAngles({&grid, 1}, 8, 2);
  const std::vector<int64_t> swapped{1, 0};
  const RotaryTables t = WindowOrderRotaryTables(a, swapped, 8, 2);
  ASSERT_EQ(t.cos.size(), 8u * 8u);
  // Window position 0 holds merged token 1, whose first patch is (row 0, col 2).
  EXPECT_FLOAT_EQ(t.cos[2], std::cos(2.0f));
  EXPECT_FLOAT_EQ(t.cos[6], std::cos(2.0f));
  EXPECT_FLOAT_EQ(t.sin[2 + 4], std::sin(2.0f));
  // Window position 1, patch 3: merged token 0's (row 1, col 1).
  EXPECT_FLOAT_EQ(t.sin[7 * 8 + 0], std::sin(1.0f));
  EXPECT_FLOAT_EQ(t.sin[7 * 8 + 4], std::sin(1.0f));
}

}  // namespace
}  // namespace qwenvl::model
