// The video pipeline end to end: the reference processor's pixel_values_videos for synthetic
// frames, the pinned sampling of testsrc-4s.mp4, frame lists, and videos shorter than their
// metadata.
#include "media/video_preprocess.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "media/video_reader.h"
#include "media_test_util.h"
#include "util/error.h"

namespace qwenvl::media {
namespace {

// The reference resizes video frames with torchvision, the engine with PIL-exact bicubic: one 8-bit
// level apart at most, 1 / 255 / min(std) = 0.0146 after normalization; 0.031 allows two levels.
constexpr float kPixelTolerance = 0.031f;

std::string Data(const std::string& name) {
  return std::string(QWENVL_TEST_DATA) + "/video/" + name;
}

// The fixture's frames tensor [8, 196, 252, 3] as images.
std::vector<RgbImage> FixtureFrames(const std::map<std::string, testing::TestTensor>& fx) {
  const testing::TestTensor& t = fx.at("frames");
  EXPECT_EQ(t.shape, (std::vector<int64_t>{8, 196, 252, 3}));
  const size_t frame_bytes = 196 * 252 * 3;
  std::vector<RgbImage> frames(8);
  for (size_t i = 0; i < frames.size(); ++i) {
    frames[i].height = 196;
    frames[i].width = 252;
    frames[i].pixels.assign(t.bytes.begin() + i * frame_bytes,
                            t.bytes.begin() + (i + 1) * frame_bytes);
  }
  return frames;
}

// Compares the kept rows (every 11th, see tests/data/video/make_fixture_subset.py) with ours.
float MaxRowDiff(const Patches& ours, const std::map<std::string, testing::TestTensor>& fx,
                 const std::string& key) {
  const std::vector<int64_t> rows = fx.at(key + ".rows").ints();
  const std::vector<float> ref = fx.at(key).floats();
  constexpr size_t kCols = 1176;
  EXPECT_EQ(ref.size(), rows.size() * kCols);
  float max_diff = 0.0f;
  for (size_t i = 0; i < rows.size(); ++i) {
    const float* mine = ours.values.data() + rows[i] * kCols;
    for (size_t c = 0; c < kCols; ++c) {
      max_diff = std::max(max_diff, std::fabs(mine[c] - ref[i * kCols + c]));
    }
  }
  return max_diff;
}

TEST(VideoPreprocess, MatchesReferenceProcessorEightFrames) {
  const auto fx = testing::ReadSafetensors(Data("fixture_video.safetensors"));
  const std::vector<RgbImage> frames = FixtureFrames(fx);
  // video.json: all 8 frames, min_pixels 3136, max_pixels 50176, grid (4, 14, 18).
  VideoOptions options{.nframes = 8, .min_pixels = 3136, .max_pixels = 50176};
  PreprocessedVideo v = PreprocessVideoRgbFrames(frames, 2.0, options, {});
  EXPECT_EQ(v.frame_indices, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(v.resized_width, 252);
  EXPECT_EQ(v.resized_height, 196);
  EXPECT_EQ(v.patches.grid_t, 4);
  EXPECT_EQ(v.patches.grid_h, 14);
  EXPECT_EQ(v.patches.grid_w, 18);
  ASSERT_EQ(v.patches.values.size(), size_t{4 * 14 * 18} * 1176);
  const float diff = MaxRowDiff(v.patches, fx, "pixel_values_videos");
  std::printf("pixel_values_videos max |diff| %.3g\n", diff);
  EXPECT_LE(diff, kPixelTolerance);
}

TEST(VideoPreprocess, MatchesReferenceProcessorFiveFramesPadded) {
  const auto fx = testing::ReadSafetensors(Data("fixture_video.safetensors"));
  std::vector<RgbImage> frames = FixtureFrames(fx);
  frames.resize(5);
  // An odd count: the last frame is repeated, grid (3, 14, 18).
  Patches p = PatchifyVideoFrames(frames, {196, 252}, {});
  EXPECT_EQ(p.grid_t, 3);
  EXPECT_EQ(p.grid_h, 14);
  EXPECT_EQ(p.grid_w, 18);
  const float diff = MaxRowDiff(p, fx, "pixel_values_videos_5frames");
  std::printf("pixel_values_videos_5frames max |diff| %.3g\n", diff);
  EXPECT_LE(diff, kPixelTolerance);
}

TEST(VideoPreprocess, TestsrcDefaultSampling) {
  PreprocessedVideo v = PreprocessVideoFile(Data("testsrc-4s.mp4"), {}, {});
  EXPECT_EQ(v.total_frames, 120);
  EXPECT_DOUBLE_EQ(v.video_fps, 30.0);
  // 120 / 30 · 2 = 8 frames, linspace(0, 119, 8) has step 17.
  EXPECT_EQ(v.frame_indices, (std::vector<int64_t>{0, 17, 34, 51, 68, 85, 102, 119}));
  EXPECT_DOUBLE_EQ(v.sample_fps, 2.0);
  EXPECT_DOUBLE_EQ(v.second_per_grid_ts, 1.0);
  EXPECT_EQ(v.orig_width, 320);
  EXPECT_EQ(v.orig_height, 240);
  // Scaled up to VIDEO_MIN_PIXELS: 392x280, grid (4, 20, 28).
  EXPECT_EQ(v.resized_width, 392);
  EXPECT_EQ(v.resized_height, 280);
  EXPECT_EQ(v.patches.grid_t, 4);
  EXPECT_EQ(v.patches.grid_h, 20);
  EXPECT_EQ(v.patches.grid_w, 28);
  EXPECT_EQ(v.patches.values.size(), size_t{4 * 20 * 28} * 1176);

  // Decoding only the sampled frames gives what decoding everything and sampling in memory gives.
  VideoReader reader = VideoReader::OpenFile(Data("testsrc-4s.mp4"));
  std::vector<int64_t> all(120);
  for (int64_t i = 0; i < 120; ++i) all[static_cast<size_t>(i)] = i;
  std::vector<RgbImage> frames;
  reader.DecodeFrames(all, [&](int64_t, RgbImage&& f) { frames.push_back(std::move(f)); });
  ASSERT_EQ(frames.size(), 120u);
  PreprocessedVideo in_memory = PreprocessVideoRgbFrames(frames, 30.0, {}, {});
  EXPECT_EQ(in_memory.frame_indices, v.frame_indices);
  EXPECT_EQ(in_memory.patches.values, v.patches.values);

  // From memory as from the file.
  const std::vector<uint8_t> bytes = testing::ReadBytes(Data("testsrc-4s.mp4"));
  PreprocessedVideo from_memory = PreprocessVideoMemory(bytes, "testsrc", {}, {});
  EXPECT_EQ(from_memory.patches.values, v.patches.values);
}

TEST(VideoPreprocess, TestsrcUserOptions) {
  // nframes 6 -> linspace(0, 119, 6) = 0, 23.8, 47.6, 71.4, 95.2, 119; max_pixels lowers the size.
  VideoOptions options{.nframes = 6, .min_pixels = 3136, .max_pixels = 28 * 28 * 40};
  PreprocessedVideo v = PreprocessVideoFile(Data("testsrc-4s.mp4"), options, {});
  EXPECT_EQ(v.frame_indices, (std::vector<int64_t>{0, 24, 48, 71, 95, 119}));
  EXPECT_DOUBLE_EQ(v.sample_fps, 1.5);
  EXPECT_NEAR(v.second_per_grid_ts, 4.0 / 3.0, 1e-12);
  // smart_resize(240, 320) with max 31360: 252·308 too big, beta = sqrt(76800 / 31360) = 1.565
  // -> floor(5.48)·28 = 140 x floor(7.30)·28 = 196.
  EXPECT_EQ(v.resized_height, 140);
  EXPECT_EQ(v.resized_width, 196);
  EXPECT_EQ(v.patches.grid_t, 3);
}

TEST(VideoPreprocess, MatroskaCountsFrames) {
  // h264.mkv: 10 frames at 10 fps, no frame count in the container.
  PreprocessedVideo v = PreprocessVideoFile(Data("h264.mkv"), {}, {});
  EXPECT_EQ(v.total_frames, 10);
  // 10 / 10 · 2 = 2, raised to min_frames 4; linspace(0, 9, 4) = 0, 3, 6, 9.
  EXPECT_EQ(v.frame_indices, (std::vector<int64_t>{0, 3, 6, 9}));
  EXPECT_DOUBLE_EQ(v.sample_fps, 4.0);
  EXPECT_DOUBLE_EQ(v.second_per_grid_ts, 0.5);
  EXPECT_EQ(v.patches.grid_t, 2);
}

TEST(VideoPreprocess, ShorterThanMetadataIsResampled) {
  // truncated_mid.mp4 claims 120 frames but holds fewer: frames are sampled again from the count
  // that decoded.
  PreprocessedVideo v = PreprocessVideoFile(Data("truncated_mid.mp4"), {}, {});
  EXPECT_GT(v.total_frames, 8);
  EXPECT_LT(v.total_frames, 120);
  ASSERT_FALSE(v.frame_indices.empty());
  EXPECT_EQ(v.frame_indices.back(), v.total_frames - 1);
  EXPECT_EQ(v.patches.grid_t * 2, static_cast<int64_t>(v.frame_indices.size()));
}

TEST(VideoPreprocess, BadVideos) {
  auto code = [](const std::string& file) {
    try {
      PreprocessVideoFile(Data(file), {}, {});
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::kInternal;
  };
  EXPECT_EQ(code("one_frame.mp4"), ErrorCode::kInvalidArgument);  // qwen-vl-utils needs 2 frames
  EXPECT_EQ(code("empty.mp4"), ErrorCode::kCorruptFile);
  EXPECT_EQ(code("audio_only.mkv"), ErrorCode::kUnsupported);
  EXPECT_EQ(code("nope.mp4"), ErrorCode::kNotFound);
}

TEST(VideoPreprocess, FrameListGoesThroughImagePath) {
  // Three 64x48 PNGs: image defaults give 56x56 (smart_resize 48x64 -> 56x56); padded to 4 frames.
  VideoOptions options;
  options.fps = 3.0;
  PreprocessedVideo v = PreprocessVideoFrames(
      {Data("frame0.png"), Data("frame1.png"), Data("frame2.png")}, options, {});
  EXPECT_EQ(v.total_frames, 3);
  EXPECT_EQ(v.resized_width, 56);
  EXPECT_EQ(v.resized_height, 56);
  EXPECT_EQ(v.patches.grid_t, 2);
  EXPECT_EQ(v.patches.grid_h, 4);
  EXPECT_EQ(v.patches.grid_w, 4);
  EXPECT_DOUBLE_EQ(v.sample_fps, 3.0);
  EXPECT_NEAR(v.second_per_grid_ts, 2.0 / 3.0, 1e-12);
  // The padded 4th frame repeats the 3rd: tt = 0 and tt = 1 halves of the last temporal patch
  // agree.
  const size_t row = static_cast<size_t>(4 * 4);  // first row of temporal patch 1
  for (size_t c = 0; c < 3; ++c) {
    for (size_t k = 0; k < 196; ++k) {
      ASSERT_EQ(v.patches.values[row * 1176 + c * 392 + k],
                v.patches.values[row * 1176 + c * 392 + 196 + k]);
    }
  }
  // Frames resizing to different sizes are refused; so is an empty list.
  EXPECT_THROW(PreprocessVideoFrames({Data("frame0.png"), Data("frame_wide.png")}, {}, {}), Error);
  EXPECT_THROW(PreprocessVideoFrames({}, {}, {}), Error);
}

}  // namespace
}  // namespace qwenvl::media
