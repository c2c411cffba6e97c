// End-to-end test of `qwenvl preprocess` (src/cli/cmd_preprocess.cc): runs the built binary.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "../media/media_test_util.h"
#include "cli_runner.h"

namespace qwenvl::cli {
namespace {

using media::testing::PreprocessData;
using media::testing::ReadSafetensors;

using testing::CommandResult;
using testing::RunQwenvl;

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("qwenvl_preprocess_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TEST(PreprocessCommand, WritesFixtureTensors) {
  const std::string out = TempPath("ocr.safetensors");
  const CommandResult r =
      RunQwenvl("preprocess --image " + PreprocessData("photos/ocr_example2.jpg") + " -m " +
                    PreprocessData("preprocessor_config.json") +
                    " --min-pixels 3136 --max-pixels 100352 --threads 2 --out " + out,
                true);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\"grid_thw\":[1,26,18]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"image_tokens\":117"), std::string::npos) << r.out;
  const auto got = ReadSafetensors(out);
  const auto want = ReadSafetensors(PreprocessData("images.safetensors"));
  std::filesystem::remove(out);
  ASSERT_EQ(got.at("resized_rgb").dtype, "U8");
  EXPECT_EQ(got.at("resized_rgb").shape, (std::vector<int64_t>{364, 252, 3}));
  EXPECT_EQ(got.at("resized_rgb").bytes, want.at("ocr_example2.small.resized_rgb").bytes);
  EXPECT_EQ(got.at("grid_thw").dtype, "I64");
  EXPECT_EQ(got.at("grid_thw").ints(), (std::vector<int64_t>{1, 26, 18}));
  const auto pv = got.at("pixel_values").floats();
  const auto ref = want.at("ocr_example2.small.pixel_values").floats();
  EXPECT_EQ(got.at("pixel_values").shape, (std::vector<int64_t>{468, 1176}));
  ASSERT_EQ(pv.size(), ref.size());
  float max_diff = 0;
  for (size_t i = 0; i < pv.size(); ++i) max_diff = std::max(max_diff, std::fabs(pv[i] - ref[i]));
  EXPECT_LE(max_diff, 0.031f);
}

TEST(PreprocessCommand, FixedSizeIsRoundedTo28) {
  const std::string out = TempPath("fixed.safetensors");
  const CommandResult r = RunQwenvl("preprocess --image " + PreprocessData("decode/rgb.png") +
                                        " --resized-height 100 --resized-width 60 --out " + out,
                                    true);
  ASSERT_EQ(r.status, 0) << r.out;
  const auto got = ReadSafetensors(out);
  std::filesystem::remove(out);
  EXPECT_EQ(got.at("resized_rgb").shape, (std::vector<int64_t>{112, 56, 3}));
  EXPECT_EQ(got.at("grid_thw").ints(), (std::vector<int64_t>{1, 8, 4}));
}

TEST(PreprocessCommand, BadInputsExitWithOneClearError) {
  const std::string out = TempPath("bad.safetensors");
  CommandResult r = RunQwenvl("preprocess --image /nonexistent/x.png --out " + out, true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("qwenvl: error: cannot open image file '/nonexistent/x.png'"),
            std::string::npos)
      << r.out;
  r = RunQwenvl("preprocess --image " + PreprocessData("make_pil_cases.py") + " --out " + out,
                true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("unknown image format"), std::string::npos) << r.out;
  r = RunQwenvl("preprocess --image " + PreprocessData("decode/rgb.png") +
                    " --min-pixels 10 --resized-height 56 --resized-width 56 --out " + out,
                true);
  EXPECT_NE(r.status, 0);
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace qwenvl::cli
