// What `qwenvl run` shows on stderr while it works: one line per phase when stderr is no terminal,
// one redrawn line on a terminal (cleared before the answer), a warning for a picture that costs
// many vision tokens, and nothing of that with --quiet (see prompt_input_cli_test.cc).
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <regex>

#include "cli_runner.h"
#include "util/mapped_file.h"

namespace qwenvl::cli {
namespace {

using testing::RunQwenvl;

const std::string kDemo = QWENVL_DEMO_MODEL_DIR;
const std::string kScenes = QWENVL_DATA_DIR "/demo/";

nlohmann::json DemoCase(int index) {
  return nlohmann::json::parse(
      ReadFileToString(QWENVL_DATA_DIR "/demo/cases.json"))["cases"][index];
}

TEST(ProgressCli, OneLinePerPhaseWhenStderrIsNoTerminal) {
  const nlohmann::json c = DemoCase(1);
  const auto r =
      RunQwenvl("run -m " + kDemo + " --image " + kScenes + c["image"].get<std::string>() +
                    " -p '" + c["question"].get<std::string>() + "' -n 3",
                /*with_stderr=*/true);
  ASSERT_EQ(r.status, 0) << r.out;
  const std::regex load(R"(\n?\[load: (\d+) layers in \d+\.\d s\]\n)");
  const std::regex vision(R"(\[vision: (\d+) blocks in \d+\.\d s\]\n)");
  const std::regex prefill(R"(\[prefill: (\d+) tokens in \d+\.\d s\]\n)");
  std::smatch l, v, p;
  ASSERT_TRUE(std::regex_search(r.out, l, load)) << r.out;
  ASSERT_TRUE(std::regex_search(r.out, v, vision)) << r.out;
  ASSERT_TRUE(std::regex_search(r.out, p, prefill)) << r.out;
  EXPECT_GT(std::stoi(l[1]), 0);
  EXPECT_GT(std::stoi(v[1]), 0);
  EXPECT_EQ(std::stoul(p[1]), c["prompt_ids"].size());  // a fresh engine computes the whole prompt
  // In order, before the answer; no terminal control characters.
  EXPECT_LT(l.position(0), v.position(0));
  EXPECT_LT(v.position(0), p.position(0));
  const std::string answer_start = c["reference_text"].get<std::string>().substr(0, 2);
  EXPECT_GT(r.out.find(answer_start, static_cast<size_t>(p.position(0))), 0u);
  EXPECT_EQ(r.out.find('\r'), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\033["), std::string::npos) << r.out;
}

// On a terminal (a pseudo-terminal made by script(1)): the line is redrawn with a percentage and
// erased (\r ESC[K) before the answer, and no per-phase summary lines.
TEST(ProgressCli, RedrawnLineOnATerminal) {
  if (std::system("command -v script > /dev/null 2>&1") != 0) GTEST_SKIP() << "no script(1)";
  const nlohmann::json c = DemoCase(1);
  const std::string inner = std::string(QWENVL_BINARY_DIR "/qwenvl") + " run -m " + kDemo +
                            " --image " + kScenes + c["image"].get<std::string>() +
                            " -p Count -n 2";
  const std::string cmd = "script -qec '" + inner + "' /dev/null < /dev/null 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  ASSERT_EQ(::pclose(pipe), 0) << out;
  EXPECT_NE(out.find("\r\033[Kload "), std::string::npos) << out;
  EXPECT_NE(out.find("\r\033[Kvision "), std::string::npos) << out;
  EXPECT_NE(out.find("100%"), std::string::npos) << out;
  EXPECT_EQ(out.find("[load:"), std::string::npos) << out;
  // The statistics line comes after the answer on a clean line.
  const size_t stats = out.find("prompt tokens");
  ASSERT_NE(stats, std::string::npos) << out;
  EXPECT_GT(stats, out.rfind("\r\033[K")) << out;
}

// Planned from the headers before any encoding: a picture resized to 1288x1288 (2116 vision
// tokens) gets one warning naming --max-pixels; the small context then refuses the request before
// the picture is even decoded, which keeps this test quick.
TEST(ProgressCli, LargePictureWarningNamesMaxPixels) {
  const auto r = RunQwenvl("run -m " + kDemo + " --image " + kScenes +
                               "scenes/scene00.png -p hi -c 1024 --min-pixels 1646400",
                           /*with_stderr=*/true);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("warning: image 1 (224x224, resized to 1288x1288) costs 2116 vision "
                       "tokens"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("--max-pixels 1605632 brings it under 2048"), std::string::npos) << r.out;
  const auto quiet = RunQwenvl("run -m " + kDemo + " --image " + kScenes +
                                   "scenes/scene00.png -p hi -c 1024 --min-pixels 1646400 -q",
                               /*with_stderr=*/true);
  EXPECT_EQ(quiet.status, 1) << quiet.out;
  EXPECT_EQ(quiet.out.find("warning"), std::string::npos) << quiet.out;
  EXPECT_NE(quiet.out.find("context"), std::string::npos) << quiet.out;
}

}  // namespace
}  // namespace qwenvl::cli
