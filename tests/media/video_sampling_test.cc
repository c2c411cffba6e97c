// Frame count, index rule and pixel budget against values worked out by hand from model-spec §7.
#include "media/video_sampling.h"

#include <gtest/gtest.h>

#include <vector>

#include "util/error.h"

namespace qwenvl::media {
namespace {

TEST(SmartNFrames, DefaultFpsTwo) {
  // §7.2 example: 300 frames at 30 fps -> 300 / 30 · 2 = 20 frames, sample_fps 2.0.
  EXPECT_EQ(SmartNFrames({}, 300, 30.0), 20);
  EXPECT_DOUBLE_EQ(SampleFps(20, 300, 30.0), 2.0);
  EXPECT_DOUBLE_EQ(SecondPerGridT(2.0), 1.0);
  // 120 frames at 30 fps (testsrc-4s.mp4) -> 8.
  EXPECT_EQ(SmartNFrames({}, 120, 30.0), 8);
}

TEST(SmartNFrames, FloorsToEven) {
  // 250 / 30 · 2 = 16.67 -> floor to even 16.
  EXPECT_EQ(SmartNFrames({}, 250, 30.0), 16);
  // 7 frames at 1 fps -> 14, capped by total 7 and max_frames floor(7/2)·2 = 6.
  EXPECT_EQ(SmartNFrames({}, 7, 1.0), 6);
}

TEST(SmartNFrames, MinAndMaxFrames) {
  // Short clip: 10 frames at 30 fps -> 0.67, raised to min_frames 4.
  EXPECT_EQ(SmartNFrames({}, 10, 30.0), 4);
  // min_frames 5 -> ceil(5/2)·2 = 6.
  EXPECT_EQ(SmartNFrames({.min_frames = 5}, 10, 30.0), 6);
  // 3 frames: min 4 is capped by max_frames floor(3/2)·2 = 2.
  EXPECT_EQ(SmartNFrames({}, 3, 30.0), 2);
  // Long video at high fps: capped at FPS_MAX_FRAMES = 768.
  EXPECT_EQ(SmartNFrames({}, 1000, 1.0), 768);
  // max_frames 7 -> floor(7/2)·2 = 6.
  EXPECT_EQ(SmartNFrames({.max_frames = 7}, 300, 30.0), 6);
  // fps 1 -> 300 / 30 · 1 = 10.
  EXPECT_EQ(SmartNFrames({.fps = 1.0}, 300, 30.0), 10);
  // fps 4.5 -> 45.
  EXPECT_EQ(SmartNFrames({.fps = 4.5}, 300, 30.0), 44);
}

TEST(SmartNFrames, NframesRoundsHalfEven) {
  EXPECT_EQ(SmartNFrames({.nframes = 8}, 100, 0.0), 8);          // fps not needed
  EXPECT_EQ(SmartNFrames({.nframes = 5}, 100, 25.0), 4);         // round(2.5) = 2
  EXPECT_EQ(SmartNFrames({.nframes = 7}, 100, 25.0), 8);         // round(3.5) = 4
  EXPECT_EQ(SmartNFrames({.nframes = 3}, 100, 25.0), 4);         // round(1.5) = 2
  EXPECT_THROW(SmartNFrames({.nframes = 1}, 100, 25.0), Error);  // round(0.5) = 0
  EXPECT_THROW(SmartNFrames({.nframes = 12}, 10, 25.0), Error);  // more than the video has
}

TEST(SmartNFrames, RejectsBadInput) {
  EXPECT_THROW(SmartNFrames({}, 1, 30.0), Error);  // a one-frame video has no 2 frames
  EXPECT_THROW(SmartNFrames({}, 0, 30.0), Error);
  EXPECT_THROW(SmartNFrames({}, 100, 0.0), Error);  // no frame rate in fps mode
  EXPECT_THROW(SmartNFrames({.fps = -1.0}, 100, 30.0), Error);
  EXPECT_THROW(SmartNFrames({.nframes = -4}, 100, 30.0), Error);
  try {
    SmartNFrames({}, 1, 30.0);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

TEST(SampleFrameIndices, LinspaceRoundHalfEven) {
  using V = std::vector<int64_t>;
  // step 119/7 = 17 exactly.
  EXPECT_EQ(SampleFrameIndices(120, 8), (V{0, 17, 34, 51, 68, 85, 102, 119}));
  // step 299/19 = 15.74: 15.74 -> 16, 31.47 -> 31, 47.21 -> 47, ...
  EXPECT_EQ(SampleFrameIndices(300, 20), (V{0,   16,  31,  47,  63,  79,  94,  110, 126, 142,
                                            157, 173, 189, 205, 220, 236, 252, 268, 283, 299}));
  // Ties go to even: 0, 1.5, 3, 4.5, 6, 7.5, 9 -> 0, 2, 3, 4, 6, 8, 9 (C round would give 5
  // for 4.5).
  EXPECT_EQ(SampleFrameIndices(10, 7), (V{0, 2, 3, 4, 6, 8, 9}));
  EXPECT_EQ(SampleFrameIndices(6, 3), (V{0, 2, 5}));  // 2.5 -> 2
  EXPECT_EQ(SampleFrameIndices(8, 3), (V{0, 4, 7}));  // 3.5 -> 4
  // 19 values go through torch's 16-wide vector body and a scalar tail; ties 2.5, 7.5, 12.5.
  EXPECT_EQ(SampleFrameIndices(16, 19),
            (V{0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 8, 9, 10, 11, 12, 12, 13, 14, 15}));
  EXPECT_EQ(SampleFrameIndices(5, 1), (V{0}));
}

TEST(SampleFrameIndices, LongVideoEndpointsAndOrder) {
  const std::vector<int64_t> idx = SampleFrameIndices(1000, 768);
  ASSERT_EQ(idx.size(), 768u);
  EXPECT_EQ(idx.front(), 0);
  EXPECT_EQ(idx.back(), 999);
  EXPECT_EQ(idx[1], 1);  // 1.30
  EXPECT_EQ(idx[2], 3);  // 2.60
  EXPECT_EQ(idx[766], 998);
  for (size_t i = 1; i < idx.size(); ++i) EXPECT_LT(idx[i - 1], idx[i]);
}

TEST(VideoPixelBudget, Defaults) {
  // max(min(602112, 90316800 / 20 · 2), int(100352 · 1.05)) = 602112.
  FramePixelBudget b = VideoPixelBudget({}, 20);
  EXPECT_EQ(b.min_pixels, 100352);
  EXPECT_EQ(b.max_pixels, 602112);
  // 768 frames: 90316800 / 768 · 2 = 235200.
  EXPECT_EQ(VideoPixelBudget({}, 768).max_pixels, 235200);
  // 2000 frames: 90316800 / 2000 · 2 = 90316.8 < int(100352 · 1.05) = 105369.
  EXPECT_EQ(VideoPixelBudget({}, 2000).max_pixels, 105369);
}

TEST(VideoPixelBudget, UserValues) {
  // total_pixels 3000000 over 20 frames: 300000 per frame.
  EXPECT_EQ(VideoPixelBudget({.total_pixels = 3000000}, 20).max_pixels, 300000);
  // 1000001 / 6 · 2 = 333333.67 -> 333333 (floored; frame areas are integers).
  EXPECT_EQ(VideoPixelBudget({.total_pixels = 1000001}, 6).max_pixels, 333333);
  // A user max_pixels only lowers the bound.
  EXPECT_EQ(VideoPixelBudget({.max_pixels = 200704}, 20).max_pixels, 200704);
  EXPECT_EQ(VideoPixelBudget({.max_pixels = 5000000}, 20).max_pixels, 602112);
  // min_pixels 200000 -> lower bound of max is int(210000.0) = 210000.
  FramePixelBudget b = VideoPixelBudget({.min_pixels = 200000, .total_pixels = 1000000}, 20);
  EXPECT_EQ(b.min_pixels, 200000);
  EXPECT_EQ(b.max_pixels, 210000);
  EXPECT_THROW(VideoPixelBudget({.min_pixels = 0}, 20), Error);
}

TEST(VideoResizedSize, SpecExamples) {
  // §7.3: 1280x720, 20 frames -> 1008x560 (grid 40x72 per temporal patch).
  FrameSize s = VideoResizedSize(720, 1280, {}, 20);
  EXPECT_EQ(s.width, 1008);
  EXPECT_EQ(s.height, 560);
  // 320x240 is below VIDEO_MIN_PIXELS: 252x308 = 77616 < 100352, scaled up by sqrt(100352/76800)
  // -> ceil(9.80)·28 = 280, ceil(13.06)·28 = 392.
  s = VideoResizedSize(240, 320, {}, 8);
  EXPECT_EQ(s.width, 392);
  EXPECT_EQ(s.height, 280);
  // The fixture's budget: 196x252 already fits [3136, 50176].
  s = VideoResizedSize(196, 252, {.min_pixels = 3136, .max_pixels = 50176}, 8);
  EXPECT_EQ(s.width, 252);
  EXPECT_EQ(s.height, 196);
}

TEST(VideoResizedSize, RequestedSizeIsRounded) {
  // resized_height/width go through smart_resize with the image defaults: 100 -> round(3.57)·28.
  FrameSize s = VideoResizedSize(720, 1280, {.resized_height = 100, .resized_width = 200}, 20);
  EXPECT_EQ(s.height, 112);
  EXPECT_EQ(s.width, 196);
  EXPECT_THROW(VideoResizedSize(720, 1280, {.resized_height = 100}, 20), Error);
}

}  // namespace
}  // namespace qwenvl::media
