// FFmpeg reading of the test clips: stream info, which frames come back, their RGB bytes against
// the FFmpeg command line's rgb24 output (the filter-graph conversion decord uses), and bad input.
#include "media/video_reader.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "util/error.h"

namespace qwenvl::media {
namespace {

std::string Clip(const std::string& name) {
  return std::string(QWENVL_TEST_DATA) + "/video/" + name;
}

// FNV-1a 64 over the RGB bytes.
uint64_t Fnv1a(const std::vector<uint8_t>& bytes) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (uint8_t b : bytes) h = (h ^ b) * 0x100000001B3ull;
  return h;
}

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<RgbImage> Decode(VideoReader& reader, const std::vector<int64_t>& indices,
                             std::vector<int64_t>* got_indices = nullptr) {
  std::vector<RgbImage> frames;
  reader.DecodeFrames(indices, [&](int64_t index, RgbImage&& frame) {
    if (got_indices) got_indices->push_back(index);
    frames.push_back(std::move(frame));
  });
  return frames;
}

TEST(VideoReader, TestsrcInfoFromMetadata) {
  VideoReader reader = VideoReader::OpenFile(Clip("testsrc-4s.mp4"));
  const VideoStreamInfo& info = reader.info();
  EXPECT_EQ(info.width, 320);
  EXPECT_EQ(info.height, 240);
  EXPECT_EQ(info.total_frames, 120);
  EXPECT_DOUBLE_EQ(info.fps, 30.0);
  EXPECT_TRUE(info.frames_from_metadata);
  EXPECT_EQ(info.codec, "h264");
}

// Hashes of `ffmpeg -i CLIP -vf select=eq(n\,N) -f rawvideo -pix_fmt rgb24` (FFmpeg 5.1, Debian
// 12).
TEST(VideoReader, TestsrcFramesMatchFfmpegRgb24) {
  VideoReader reader = VideoReader::OpenFile(Clip("testsrc-4s.mp4"));
  std::vector<int64_t> got;
  std::vector<RgbImage> frames = Decode(reader, {0, 17, 119}, &got);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(got, (std::vector<int64_t>{0, 17, 119}));
  for (const RgbImage& f : frames) {
    EXPECT_EQ(f.width, 320);
    EXPECT_EQ(f.height, 240);
    EXPECT_EQ(f.pixels.size(), 320u * 240u * 3u);
  }
  EXPECT_EQ(Fnv1a(frames[0].pixels), 0xcdfc1065869486f6ull);
  EXPECT_EQ(Fnv1a(frames[1].pixels), 0x10716c5767975354ull);
  EXPECT_EQ(Fnv1a(frames[2].pixels), 0xe4dc1d01e3bff3f6ull);
}

TEST(VideoReader, RepeatedIndicesAndSecondPass) {
  VideoReader reader = VideoReader::OpenFile(Clip("testsrc-4s.mp4"));
  std::vector<int64_t> got;
  std::vector<RgbImage> frames = Decode(reader, {3, 3, 4}, &got);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(got, (std::vector<int64_t>{3, 3, 4}));
  EXPECT_EQ(frames[0].pixels, frames[1].pixels);
  EXPECT_NE(frames[1].pixels, frames[2].pixels);
  // A second call starts again from the first frame.
  std::vector<RgbImage> again = Decode(reader, {17});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(Fnv1a(again[0].pixels), 0x10716c5767975354ull);
  EXPECT_THROW(Decode(reader, {5, 2}), Error);  // not ascending
}

struct ClipCase {
  const char* file;
  const char* codec;
  int width;
  int height;
  bool from_metadata;
  uint64_t frame5_hash;
};

class VideoReaderFormats : public testing::TestWithParam<ClipCase> {};

// 1 s of testsrc at 10 fps in each container/codec the issue names.
TEST_P(VideoReaderFormats, InfoCountAndPixels) {
  const ClipCase& c = GetParam();
  VideoReader reader = VideoReader::OpenFile(Clip(c.file));
  const VideoStreamInfo& info = reader.info();
  EXPECT_EQ(info.codec, c.codec);
  EXPECT_EQ(info.width, c.width);
  EXPECT_EQ(info.height, c.height);
  EXPECT_EQ(info.total_frames, 10);
  EXPECT_EQ(info.frames_from_metadata, c.from_metadata);
  EXPECT_DOUBLE_EQ(info.fps, 10.0);
  std::vector<RgbImage> frames = Decode(reader, {5, 9});
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].width, c.width);
  EXPECT_EQ(frames[0].height, c.height);
  EXPECT_EQ(Fnv1a(frames[0].pixels), c.frame5_hash) << c.file;
}

INSTANTIATE_TEST_SUITE_P(
    Clips, VideoReaderFormats,
    testing::Values(ClipCase{"h264.mkv", "h264", 64, 48, false, 0xd3c2348352b2d844ull},
                    ClipCase{"h265.mp4", "hevc", 64, 48, true, 0xc75dee27bd44792cull},
                    ClipCase{"vp8.webm", "vp8", 64, 48, false, 0x6b96d0933e893baaull},
                    ClipCase{"vp9.webm", "vp9", 64, 48, false, 0x139e5d295fce5f76ull},
                    ClipCase{"av1.mkv", "libdav1d", 64, 48, false, 0x37cc4aeef1d07f59ull},
                    ClipCase{"mpeg4.avi", "mpeg4", 64, 48, true, 0x79ae182acdcc721eull},
                    ClipCase{"mjpeg.mov", "mjpeg", 64, 48, true, 0xcef168f5fb2e27f9ull},
                    ClipCase{"odd_size.mp4", "h264", 65, 49, true, 0x9bbe574337f803ddull}));

TEST(VideoReader, MemorySourceEqualsFile) {
  const std::vector<uint8_t> bytes = ReadBytes(Clip("vp9.webm"));
  VideoReader reader = VideoReader::OpenMemory(bytes, "vp9.webm");
  EXPECT_EQ(reader.info().total_frames, 10);
  std::vector<RgbImage> frames = Decode(reader, {5});
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(Fnv1a(frames[0].pixels), 0x139e5d295fce5f76ull);
}

TEST(VideoReader, TruncatedStreamEndsEarly) {
  // The first 20000 of 31953 bytes: moov is at the front (faststart), so the frame count says 120,
  // but the data stops early. Decoding gives what is there and says how much.
  VideoReader reader = VideoReader::OpenFile(Clip("truncated_mid.mp4"));
  EXPECT_EQ(reader.info().total_frames, 120);
  std::vector<RgbImage> frames;
  const int64_t decoded = reader.DecodeFrames(
      std::vector<int64_t>{0, 119}, [&](int64_t, RgbImage&& f) { frames.push_back(std::move(f)); });
  EXPECT_GT(decoded, 0);
  EXPECT_LT(decoded, 120);
  EXPECT_EQ(frames.size(), 1u);
}

ErrorCode OpenError(const std::string& file) {
  try {
    VideoReader reader = VideoReader::OpenFile(Clip(file));
    reader.DecodeFrames(std::vector<int64_t>{0}, [](int64_t, RgbImage&&) {});
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    return e.code();
  }
  ADD_FAILURE() << file << " opened without error";
  return ErrorCode::kInternal;
}

TEST(VideoReader, BadFilesGiveOneClearError) {
  EXPECT_EQ(OpenError("missing.mp4"), ErrorCode::kNotFound);
  EXPECT_EQ(OpenError("empty.mp4"), ErrorCode::kCorruptFile);
  EXPECT_EQ(OpenError("garbage.mp4"), ErrorCode::kCorruptFile);
  EXPECT_EQ(OpenError("truncated.mp4"), ErrorCode::kCorruptFile);
  EXPECT_EQ(OpenError("audio_only.mkv"), ErrorCode::kUnsupported);
  EXPECT_EQ(OpenError("no_frames.mkv"), ErrorCode::kCorruptFile);
  EXPECT_EQ(OpenError("fixture_video.json"), ErrorCode::kCorruptFile);  // not a video at all
}

TEST(VideoReader, EmptyMemoryAndLimits) {
  EXPECT_THROW(VideoReader::OpenMemory({}, "nothing"), Error);
  VideoLimits small;
  small.max_width = 100;
  try {
    VideoReader::OpenFile(Clip("testsrc-4s.mp4"), small);
    ADD_FAILURE() << "limit not applied";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
  }
  small = {};
  small.max_frames = 50;
  EXPECT_THROW(VideoReader::OpenFile(Clip("testsrc-4s.mp4"), small), Error);
}

}  // namespace
}  // namespace qwenvl::media
