// The sparse decode (DecodeMode::kSparse: packets no sample depends on are not decoded,
// non-reference frames between samples are skipped, the demuxer seeks across key packets) must hand
// over exactly the frames, and the pixels, that decoding every frame gives: checked on every test
// clip, with B-frames, short and open groups of pictures, sampled densely, sparsely and with
// repeats.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "media/video_reader.h"
#include "media/video_sampling.h"
#include "util/error.h"

namespace qwenvl::media {
namespace {

std::string Clip(const std::string& name) {
  return std::string(QWENVL_TEST_DATA) + "/video/" + name;
}

struct Decoded {
  std::vector<int64_t> indices;
  std::vector<RgbImage> frames;
  int64_t returned = 0;
  DecodeStats stats;
};

Decoded Decode(const std::string& clip, const std::vector<int64_t>& indices, DecodeMode mode) {
  VideoReader reader = VideoReader::OpenFile(Clip(clip));
  Decoded d;
  d.returned = reader.DecodeFrames(
      indices,
      [&](int64_t index, RgbImage&& frame) {
        d.indices.push_back(index);
        d.frames.push_back(std::move(frame));
      },
      mode);
  d.stats = reader.last_stats();
  return d;
}

void ExpectSameFrames(const Decoded& sparse, const Decoded& every) {
  ASSERT_EQ(sparse.indices, every.indices);
  EXPECT_EQ(sparse.returned, every.returned);
  for (size_t i = 0; i < every.frames.size(); ++i) {
    SCOPED_TRACE("frame " + std::to_string(every.indices[i]));
    EXPECT_EQ(sparse.frames[i].width, every.frames[i].width);
    EXPECT_EQ(sparse.frames[i].height, every.frames[i].height);
    ASSERT_TRUE(sparse.frames[i].pixels == every.frames[i].pixels);
  }
}

// Dense (the default sampling), sparse (every 37th frame: wider than the key interval of the
// B-frame clips) and repeated indices.
std::vector<std::vector<int64_t>> IndexSets(int64_t total, double fps) {
  std::vector<std::vector<int64_t>> sets;
  if (total >= 2) sets.push_back(SampleFrameIndices(total, SmartNFrames({}, total, fps)));
  std::vector<int64_t> sparse;
  for (int64_t i = 3; i < total; i += 37) sparse.push_back(i);
  if (!sparse.empty()) sets.push_back(sparse);
  sets.push_back({0, 0, total / 2, total / 2, total - 1});
  return sets;
}

TEST(VideoSparseDecode, SameFramesAsDecodingEveryFrame) {
  for (const char* clip : {"testsrc-4s.mp4", "h264.mkv", "h265.mp4", "vp8.webm", "vp9.webm",
                           "av1.mkv", "mpeg4.avi", "mjpeg.mov", "odd_size.mp4", "one_frame.mp4",
                           "bframes_gop12.mp4", "open_gop.mkv", "mpeg4_bframes.mkv"}) {
    const VideoStreamInfo info = VideoReader::OpenFile(Clip(clip)).info();
    for (const std::vector<int64_t>& indices : IndexSets(info.total_frames, info.fps)) {
      SCOPED_TRACE(std::string(clip) + ", " + std::to_string(indices.size()) + " indices");
      const Decoded every = Decode(clip, indices, DecodeMode::kEveryFrame);
      const Decoded sparse = Decode(clip, indices, DecodeMode::kSparse);
      EXPECT_FALSE(every.stats.sparse);
      ExpectSameFrames(sparse, every);
    }
  }
}

// On the clips made for it the sparse decode runs to the end on its own (no fallback), decodes
// fewer packets than the stream has when samples are sparse, skips non-reference frames, and seeks.
TEST(VideoSparseDecode, SkipsAndSeeksOnBFrameClips) {
  for (const char* clip : {"bframes_gop12.mp4", "open_gop.mkv", "mpeg4_bframes.mkv"}) {
    SCOPED_TRACE(clip);
    const VideoStreamInfo info = VideoReader::OpenFile(Clip(clip)).info();
    ASSERT_EQ(info.total_frames, 400);
    std::vector<int64_t> indices;
    for (int64_t i = 3; i < info.total_frames; i += 37) indices.push_back(i);
    const Decoded sparse = Decode(clip, indices, DecodeMode::kSparse);
    const Decoded every = Decode(clip, indices, DecodeMode::kEveryFrame);
    ExpectSameFrames(sparse, every);
    EXPECT_TRUE(sparse.stats.sparse);
    EXPECT_FALSE(sparse.stats.fell_back);
    EXPECT_GT(sparse.stats.seeks, 0);
    EXPECT_LT(sparse.stats.packets_sent, every.stats.packets_sent / 2);
    // Skipped non-reference frames are not output.
    EXPECT_LT(sparse.stats.frames_out, sparse.stats.packets_sent);
  }
}

// A long clip (20 minutes at 1 fps, keys every 50 frames), sampled as the pipeline samples it and
// with few frames: the frames are those of the full decode, with seeks when samples lie far apart.
TEST(VideoSparseDecode, LongClip) {
  const std::string clip = "long_20min_1fps.mp4";
  const VideoStreamInfo info = VideoReader::OpenFile(Clip(clip)).info();
  ASSERT_EQ(info.total_frames, 1200);
  for (const int64_t nframes : {int64_t{8}, SmartNFrames({}, info.total_frames, info.fps)}) {
    SCOPED_TRACE(nframes);
    const std::vector<int64_t> indices = SampleFrameIndices(info.total_frames, nframes);
    const Decoded sparse = Decode(clip, indices, DecodeMode::kSparse);
    const Decoded every = Decode(clip, indices, DecodeMode::kEveryFrame);
    ExpectSameFrames(sparse, every);
    EXPECT_TRUE(sparse.stats.sparse);
    if (nframes == 8) {
      EXPECT_GE(sparse.stats.seeks, 6);
      EXPECT_LT(sparse.stats.packets_sent, 8 * 50);
    }
  }
}

// A stream shorter than its header: the sparse decode leaves it to the frame-by-frame count, so the
// count returned (the pipeline samples again from it) and the frames are the same; one that
// decodes to nothing fails the same way in both modes.
TEST(VideoSparseDecode, TruncatedStreamsCountAsBefore) {
  const std::string clip = "truncated_mid.mp4";
  const VideoStreamInfo info = VideoReader::OpenFile(Clip(clip)).info();
  const std::vector<int64_t> indices = SampleFrameIndices(info.total_frames, 8);
  const Decoded every = Decode(clip, indices, DecodeMode::kEveryFrame);
  EXPECT_LT(every.returned, info.total_frames);
  ExpectSameFrames(Decode(clip, indices, DecodeMode::kSparse), every);

  for (const DecodeMode mode : {DecodeMode::kSparse, DecodeMode::kEveryFrame}) {
    VideoReader reader = VideoReader::OpenFile(Clip("truncated.mp4"));
    try {
      reader.DecodeFrames(
          indices, [](int64_t, RgbImage&&) {}, mode);
      ADD_FAILURE() << "truncated.mp4 decoded";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorruptFile);
    }
  }
}

}  // namespace
}  // namespace qwenvl::media
