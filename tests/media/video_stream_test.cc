// The streamed video pipeline: slices come one temporal patch at a time, in order, and together are
// the whole clip's patches (bitwise: the same float expression per element, only the rows are
// produced in pieces), for files, memory, frame lists (an odd one padded) and a stream that ends
// before its header says (sampled again: before_decode twice, the sink starts over).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "media/video_preprocess.h"
#include "media/video_reader.h"
#include "media_test_util.h"

namespace qwenvl::media {
namespace {

std::string Data(const std::string& name) {
  return std::string(QWENVL_TEST_DATA) + "/video/" + name;
}

// Every frame of a clip, decoded one by one.
std::vector<RgbImage> AllFrames(const std::string& path) {
  VideoReader reader = VideoReader::OpenFile(path);
  std::vector<int64_t> all(static_cast<size_t>(reader.info().total_frames));
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  std::vector<RgbImage> frames;
  reader.DecodeFrames(
      all, [&](int64_t, RgbImage&& f) { frames.push_back(std::move(f)); }, DecodeMode::kEveryFrame);
  return frames;
}

// Collects slices, checking their order and shape; starts over when a decode pass starts.
struct SliceSink {
  std::vector<float> values;
  int64_t slices = 0;
  int passes = 0;
  VideoPlanCheck Check() {
    return [this](const VideoPlan&) {
      ++passes;
      values.clear();
      slices = 0;
    };
  }
  VideoSliceCallback Callback() {
    return [this](VideoSlice&& slice) {
      EXPECT_EQ(slice.t, slices);
      EXPECT_EQ(slice.patches.grid_t, 1);
      values.insert(values.end(), slice.patches.values.begin(), slice.patches.values.end());
      ++slices;
    };
  }
};

TEST(VideoStream, SlicesAreTheWholeClip) {
  const std::string path = Data("bframes_gop12.mp4");
  const VideoOptions options{.nframes = 10, .min_pixels = 3136, .max_pixels = 28 * 28 * 12};
  SliceSink sink;
  const PreprocessedVideo streamed =
      StreamVideoFile(path, options, {}, {}, sink.Check(), sink.Callback());
  EXPECT_EQ(sink.passes, 1);
  EXPECT_EQ(sink.slices, 5);
  EXPECT_TRUE(streamed.patches.values.empty());
  EXPECT_EQ(streamed.patches.grid_t, 5);

  // The whole clip in memory, sampled and patchified at once (the path without streaming).
  const PreprocessedVideo whole = PreprocessVideoRgbFrames(AllFrames(path), 25.0, options, {});
  EXPECT_EQ(streamed.frame_indices, whole.frame_indices);
  EXPECT_EQ(streamed.patches.grid_h, whole.patches.grid_h);
  EXPECT_EQ(streamed.patches.grid_w, whole.patches.grid_w);
  EXPECT_DOUBLE_EQ(streamed.second_per_grid_ts, whole.second_per_grid_ts);
  EXPECT_TRUE(sink.values == whole.patches.values);

  // The collected forms (file and memory) are the same rows.
  EXPECT_TRUE(PreprocessVideoFile(path, options, {}).patches.values == whole.patches.values);
  const std::vector<uint8_t> bytes = testing::ReadBytes(path);
  SliceSink memory;
  StreamVideoMemory(bytes, "clip", options, {}, {}, memory.Check(), memory.Callback());
  EXPECT_TRUE(memory.values == whole.patches.values);
}

TEST(VideoStream, OddFrameListPadsItsLastSlice) {
  const std::vector<std::string> paths = {Data("frame0.png"), Data("frame1.png"),
                                          Data("frame2.png")};
  SliceSink sink;
  const PreprocessedVideo streamed =
      StreamVideoFrames(paths, {}, {}, {}, sink.Check(), sink.Callback());
  EXPECT_EQ(sink.slices, 2);
  EXPECT_EQ(streamed.total_frames, 3);
  std::vector<RgbImage> frames;
  for (const std::string& p : paths) frames.push_back(DecodeImageFile(p));
  const Patches whole = PatchifyVideoFrames(
      frames, {.height = streamed.resized_height, .width = streamed.resized_width}, {});
  EXPECT_EQ(whole.grid_t, 2);
  EXPECT_TRUE(sink.values == whole.values);
}

TEST(VideoStream, ShortStreamStartsOver) {
  // truncated_mid.mp4 says 120 frames but decodes to fewer: the first pass ends early, the frames
  // are sampled again from the decoded count and the sink gets a second pass.
  const std::string path = Data("truncated_mid.mp4");
  SliceSink sink;
  const PreprocessedVideo streamed =
      StreamVideoFile(path, {}, {}, {}, sink.Check(), sink.Callback());
  EXPECT_EQ(sink.passes, 2);
  const std::vector<RgbImage> frames = AllFrames(path);
  EXPECT_EQ(streamed.total_frames, static_cast<int64_t>(frames.size()));
  const PreprocessedVideo whole = PreprocessVideoRgbFrames(frames, streamed.video_fps, {}, {});
  EXPECT_EQ(streamed.frame_indices, whole.frame_indices);
  EXPECT_TRUE(sink.values == whole.patches.values);
}

}  // namespace
}  // namespace qwenvl::media
