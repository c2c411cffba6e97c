// `qwenvl run` with media that do not fit the context as given: the budgets the user left unset
// are lowered and said on stderr and in --json; flags the user set are kept or named in the error.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.h"

namespace qwenvl::cli {
namespace {

using testing::RunQwenvl;

const std::string kDemo = QWENVL_DEMO_MODEL_DIR;
// 20 minutes of FFmpeg's testsrc at 64x48, 1 frame a second (tests/data/video/README.md).
const std::string kLongVideo = QWENVL_TEST_DATA "/video/long-20min.mp4";

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(BudgetCli, ATwentyMinuteVideoIsFittedAndTheReductionSaid) {
  const std::string args = "run -m " + kDemo + " --ctx 4096 --video " + kLongVideo +
                           " -p 'What happens?' --max-tokens 8 --temperature 0";
  const auto r = RunQwenvl(args, /*with_stderr=*/true);
  ASSERT_EQ(r.status, 0) << r.out;
  // "video 1 reduced from 53760 to N tokens (768 -> F frames) to fit --ctx 4096 (text ..., answer
  // reserve 8); pin with --max-frames": 64x48 frames are raised to min_pixels whatever
  // total_pixels, so only the frame count goes down.
  EXPECT_TRUE(Contains(r.out, "video 1 reduced from 53760 to ")) << r.out;
  EXPECT_TRUE(Contains(r.out, "768 -> ")) << r.out;
  EXPECT_TRUE(Contains(r.out, "to fit --ctx 4096")) << r.out;
  EXPECT_TRUE(Contains(r.out, "pin with --max-frames")) << r.out;

  const auto j = RunQwenvl(args + " --json");
  ASSERT_EQ(j.status, 0) << j.out;
  const nlohmann::json out = nlohmann::json::parse(j.out);
  const nlohmann::json& plan = out["plan"];
  EXPECT_EQ(plan["context_length"], 4096);
  EXPECT_EQ(plan["reserve_tokens"], 8);
  EXPECT_EQ(plan["media_tokens_requested"], 53760);
  ASSERT_EQ(plan["changes"].size(), 1u);
  const nlohmann::json& change = plan["changes"][0];
  EXPECT_EQ(change["kind"], "video");
  EXPECT_EQ(change["frames"]["before"], 768);
  const int64_t frames = change["frames"]["after"].get<int64_t>();
  EXPECT_LT(frames, 768);
  EXPECT_EQ(out["media"][0]["tokens"], change["tokens_after"]);
  EXPECT_LE(out["prompt_tokens"].get<int64_t>() + 8, 4096);
  EXPECT_EQ(out["completion_tokens"], 8);

  // The same budgets given as flags: nothing to lower, the same answer.
  EXPECT_FALSE(change.contains("total_pixels"));
  const auto pinned = RunQwenvl(args + " --json --max-frames " + std::to_string(frames));
  ASSERT_EQ(pinned.status, 0) << pinned.out;
  const nlohmann::json given = nlohmann::json::parse(pinned.out);
  EXPECT_TRUE(given["plan"]["changes"].empty());
  EXPECT_EQ(given["text"], out["text"]);
  EXPECT_EQ(given["prompt_tokens"], out["prompt_tokens"]);
}

TEST(BudgetCli, AFlagThatDoesNotFitIsNamed) {
  const auto r = RunQwenvl("run -m " + kDemo + " --ctx 4096 --video " + kLongVideo +
                               " --max-frames 768 -p 'What happens?' --max-tokens 8",
                           /*with_stderr=*/true);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(Contains(r.out, "video 1 is set to max_frames 768")) << r.out;
  EXPECT_TRUE(Contains(r.out, "(--max-frames)")) << r.out;
  const auto bad = RunQwenvl(
      "run -m " + kDemo + " --video " + kLongVideo + " --total-pixels 0 -p 'What happens?'",
      /*with_stderr=*/true);
  EXPECT_NE(bad.status, 0);
  EXPECT_TRUE(Contains(bad.out, "--total-pixels")) << bad.out;
  const auto beyond = RunQwenvl("run -m " + kDemo + " --ctx 999999999 -p hi", true);
  EXPECT_EQ(beyond.status, 1);
  EXPECT_TRUE(Contains(beyond.out, "max_position_embeddings")) << beyond.out;
}

TEST(BudgetCli, TheDefaultContextIs32768) {
  const auto r = RunQwenvl("run -m " + kDemo + " --image " + QWENVL_DATA_DIR +
                           "/demo/scenes/scene00.png -p hi --max-tokens 1 --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json out = nlohmann::json::parse(r.out);
  EXPECT_EQ(out["plan"]["context_length"], 32768);
  EXPECT_TRUE(out["plan"]["changes"].empty());
}

}  // namespace
}  // namespace qwenvl::cli
