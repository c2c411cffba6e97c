// End-to-end test of `qwenvl preprocess --video` (src/cli/preprocess_video.cc): runs the built
// binary.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "../media/media_test_util.h"
#include "cli_runner.h"

namespace qwenvl::cli {
namespace {

using testing::CommandResult;
using testing::RunQwenvl;

std::string VideoData(const std::string& name) {
  return std::string(QWENVL_TEST_DATA) + "/video/" + name;
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("qwenvl_preprocess_video_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TEST(PreprocessVideoCommand, TestsrcDefaults) {
  const std::string out = TempPath("testsrc.safetensors");
  const CommandResult r =
      RunQwenvl("preprocess --video " + VideoData("testsrc-4s.mp4") + " --out " + out, true);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\"frame_indices\":[0,17,34,51,68,85,102,119]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"grid_thw\":[4,20,28]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"second_per_grid_ts\":1.0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"video_tokens\":560"), std::string::npos) << r.out;
  const auto got = media::testing::ReadSafetensors(out);
  std::filesystem::remove(out);
  EXPECT_EQ(got.at("pixel_values_videos").shape, (std::vector<int64_t>{4 * 20 * 28, 1176}));
  EXPECT_EQ(got.at("video_grid_thw").ints(), (std::vector<int64_t>{4, 20, 28}));
  EXPECT_EQ(got.at("frame_indices").ints(),
            (std::vector<int64_t>{0, 17, 34, 51, 68, 85, 102, 119}));
}

TEST(PreprocessVideoCommand, NframesAndFrameList) {
  const std::string out = TempPath("n.safetensors");
  CommandResult r =
      RunQwenvl("preprocess --video " + VideoData("vp9.webm") + " --nframes 6 --out " + out, true);
  ASSERT_EQ(r.status, 0) << r.out;
  // linspace(0, 9, 6) = 0, 1.8, 3.6, 5.4, 7.2, 9.
  EXPECT_NE(r.out.find("\"frame_indices\":[0,2,4,5,7,9]"), std::string::npos) << r.out;
  r = RunQwenvl("preprocess --video-frames " + VideoData("frame0.png") + " " +
                    VideoData("frame1.png") + " " + VideoData("frame2.png") + " --fps 1 --out " +
                    out,
                true);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\"grid_thw\":[2,4,4]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"second_per_grid_ts\":2.0"), std::string::npos) << r.out;
  std::filesystem::remove(out);
}

TEST(PreprocessVideoCommand, BadInputExitsOne) {
  const std::string out = TempPath("bad.safetensors");
  CommandResult r =
      RunQwenvl("preprocess --video " + VideoData("audio_only.mkv") + " --out " + out, true);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("no video stream"), std::string::npos) << r.out;
  r = RunQwenvl("preprocess --video " + VideoData("garbage.mp4") + " --out " + out, true);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("garbage.mp4"), std::string::npos) << r.out;
  r = RunQwenvl("preprocess --image x.png --video " + VideoData("vp9.webm") + " --out " + out,
                true);
  EXPECT_NE(r.status, 0) << r.out;  // --image and --video exclude each other
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace qwenvl::cli
