// End-to-end test of `qwenvl preprocess --video` (src/cli/preprocess_video.cc): runs the built
// binary.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "../media/media_test_util.h"

namespace qwenvl::cli {
namespace {

struct CliResult {
  int exit_code;
  std::string output;  // stdout and stderr
};

CliResult RunQwenvl(const std::string& args) {
  const std::string cmd = std::string(QWENVL_BINARY_DIR) + "/qwenvl " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, ""};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

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
  const CliResult r =
      RunQwenvl("preprocess --video " + VideoData("testsrc-4s.mp4") + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"frame_indices\":[0,17,34,51,68,85,102,119]"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("\"grid_thw\":[4,20,28]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"second_per_grid_ts\":1.0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"video_tokens\":560"), std::string::npos) << r.output;
  const auto got = media::testing::ReadSafetensors(out);
  std::filesystem::remove(out);
  EXPECT_EQ(got.at("pixel_values_videos").shape, (std::vector<int64_t>{4 * 20 * 28, 1176}));
  EXPECT_EQ(got.at("video_grid_thw").ints(), (std::vector<int64_t>{4, 20, 28}));
  EXPECT_EQ(got.at("frame_indices").ints(),
            (std::vector<int64_t>{0, 17, 34, 51, 68, 85, 102, 119}));
}

TEST(PreprocessVideoCommand, NframesAndFrameList) {
  const std::string out = TempPath("n.safetensors");
  CliResult r =
      RunQwenvl("preprocess --video " + VideoData("vp9.webm") + " --nframes 6 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // linspace(0, 9, 6) = 0, 1.8, 3.6, 5.4, 7.2, 9.
  EXPECT_NE(r.output.find("\"frame_indices\":[0,2,4,5,7,9]"), std::string::npos) << r.output;
  r = RunQwenvl("preprocess --video-frames " + VideoData("frame0.png") + " " +
                VideoData("frame1.png") + " " + VideoData("frame2.png") + " --fps 1 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"grid_thw\":[2,4,4]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"second_per_grid_ts\":2.0"), std::string::npos) << r.output;
  std::filesystem::remove(out);
}

TEST(PreprocessVideoCommand, BadInputExitsOne) {
  const std::string out = TempPath("bad.safetensors");
  CliResult r = RunQwenvl("preprocess --video " + VideoData("audio_only.mkv") + " --out " + out);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("no video stream"), std::string::npos) << r.output;
  r = RunQwenvl("preprocess --video " + VideoData("garbage.mp4") + " --out " + out);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("garbage.mp4"), std::string::npos) << r.output;
  r = RunQwenvl("preprocess --image x.png --video " + VideoData("vp9.webm") + " --out " + out);
  EXPECT_NE(r.exit_code, 0) << r.output;  // --image and --video exclude each other
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace qwenvl::cli
