#include "model/window_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "io/safetensors.h"
#include "vision_fixtures.h"

namespace qwenvl::model {
namespace {

constexpr int64_t kMerge = 2;       // spatial_merge_size
constexpr int64_t kWindowSide = 4;  // 112 px / 14 px / 2

std::vector<int64_t> Steps(const std::vector<int64_t>& cu) {
  std::vector<int64_t> out;
  for (size_t i = 1; i < cu.size(); ++i) out.push_back(cu[i] - cu[i - 1]);
  return out;
}

// model-spec §3.4 worked example: grid (1, 34, 46), merged 17 × 23, windows 5 × 6.
TEST(WindowIndex, WorkedExampleOfTheSpec) {
  const GridThw grid{1, 34, 46};
  const WindowLayout l = ComputeWindowLayout({&grid, 1}, kMerge, kWindowSide);
  std::vector<int64_t> expected_tokens;
  for (int wr = 0; wr < 4; ++wr)
    expected_tokens.insert(expected_tokens.end(), {16, 16, 16, 16, 16, 12});
  expected_tokens.insert(expected_tokens.end(), {4, 4, 4, 4, 4, 3});
  std::vector<int64_t> expected_steps;
  for (int64_t t : expected_tokens) expected_steps.push_back(4 * t);
  EXPECT_EQ(Steps(l.cu_window_seqlens), expected_steps);
  ASSERT_EQ(l.window_index.size(), 17u * 23u);
  // First window: merged rows 0..3, columns 0..3, row-major.
  const std::vector<int64_t> first(l.window_index.begin(), l.window_index.begin() + 8);
  EXPECT_EQ(first, (std::vector<int64_t>{0, 1, 2, 3, 23, 24, 25, 26}));
  // Last window of the first window row: columns 20..22 of rows 0..3.
  const std::vector<int64_t> sixth(l.window_index.begin() + 80, l.window_index.begin() + 92);
  EXPECT_EQ(sixth, (std::vector<int64_t>{20, 21, 22, 43, 44, 45, 66, 67, 68, 89, 90, 91}));
  EXPECT_EQ(l.window_index.back(), 17 * 23 - 1);
  std::vector<int64_t> sorted = l.window_index;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(sorted.size());
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota);
}

// A merged size divisible by the window side gets a whole padding window row/column (pitfall 8):
// the empty windows appear as repeats and DropEmptySegments removes them.
TEST(WindowIndex, DivisibleSizeGivesEmptyWindows) {
  const GridThw grid{1, 16, 16};  // merged 8 × 8
  const WindowLayout l = ComputeWindowLayout({&grid, 1}, kMerge, kWindowSide);
  EXPECT_EQ(l.cu_window_seqlens,
            (std::vector<int64_t>{0, 64, 128, 128, 192, 256, 256, 256, 256, 256}));
  EXPECT_EQ(DropEmptySegments(l.cu_window_seqlens), (std::vector<int64_t>{0, 64, 128, 192, 256}));
  EXPECT_EQ(l.window_index[4], 8);  // second merged row of the first window
  EXPECT_EQ(l.window_index[16], 4);
}

// Windows never straddle frames or items: every item's frame is a run of whole windows and the
// indices continue across items.
TEST(WindowIndex, FramesAndItemsStaySeparate) {
  const GridThw grids[] = {{2, 4, 6}, {1, 2, 2}};  // 2 frames of 2 × 3 merged, then 1 × 1
  const WindowLayout l = ComputeWindowLayout(grids, kMerge, kWindowSide);
  EXPECT_EQ(l.window_index, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
  EXPECT_EQ(DropEmptySegments(l.cu_window_seqlens), (std::vector<int64_t>{0, 24, 48, 52}));
  EXPECT_EQ(FrameCuSeqlens(grids), (std::vector<int64_t>{0, 24, 48, 52}));
}

// Every fixture case: exact match with the reference model's window index and boundaries.
TEST(WindowIndex, MatchesTheReferenceCases) {
  for (const char* name : {"tiny.image", "tiny.two_images", "tiny.video", "small.image",
                           "small.two_images", "small.video", "small.image_video"}) {
    SCOPED_TRACE(name);
    const testing::VisionCase c = testing::LoadVisionCase(name);
    io::SafetensorsFile ref(testing::kModelData + "/" + name + ".safetensors");
    const WindowLayout l = ComputeWindowLayout(c.grids, kMerge, kWindowSide);
    EXPECT_EQ(l.window_index, testing::FixtureValues<int64_t>(ref, "vision_window_index"));
    EXPECT_EQ(l.cu_window_seqlens,
              testing::FixtureValues<int64_t>(ref, "vision_cu_window_seqlens"));
  }
}

}  // namespace
}  // namespace qwenvl::model
