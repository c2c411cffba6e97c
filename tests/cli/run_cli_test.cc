// `qwenvl run` and `qwenvl chat` as a user runs them, on the trained demo checkpoint.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "media/image_decode.h"
#include "util/mapped_file.h"

namespace qwenvl::cli {
namespace {

using testing::RunQwenvl;
namespace fs = std::filesystem;

const std::string kDemo = QWENVL_DEMO_MODEL_DIR;
const std::string kScenes = QWENVL_DATA_DIR "/demo/";

nlohmann::json DemoCase(int index) {
  return nlohmann::json::parse(
      ReadFileToString(QWENVL_DATA_DIR "/demo/cases.json"))["cases"][index];
}

TEST(RunCli, AnswersADemoQuestionLikeTheReference) {
  const nlohmann::json c = DemoCase(1);  // count
  const auto r =
      RunQwenvl("run -m " + kDemo + " --image " + kScenes + c["image"].get<std::string>() +
                " -p '" + c["question"].get<std::string>() + "' --max-tokens 110");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, c["reference_text"].get<std::string>() + "\n");
}

TEST(RunCli, JsonReportsTimingsAndBoxesInBothFrames) {
  const nlohmann::json c = DemoCase(6);  // locate
  ASSERT_EQ(c["kind"], "locate");
  const fs::path png =
      fs::temp_directory_path() / ("qwenvl_boxes_" + std::to_string(getpid()) + ".png");
  const auto r = RunQwenvl(
      "run -m " + kDemo + " --image " + kScenes + c["image"].get<std::string>() + " -p '" +
      c["question"].get<std::string>() + "' --max-tokens 110 --json --boxes " + png.string());
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["text"], c["reference_text"]);
  EXPECT_EQ(j["finish_reason"], "stop");
  EXPECT_EQ(j["prompt_tokens"].get<size_t>(), c["prompt_ids"].size());
  for (const char* k : {"load_ms", "preprocess_ms", "vision_ms", "prefill_ms", "decode_ms"})
    EXPECT_GE(j["timings"][k].get<double>(), 0.0) << k;
  ASSERT_EQ(j["media"].size(), 1u);
  EXPECT_EQ(j["media"][0]["resized_size"], nlohmann::json({224, 224}));
  ASSERT_EQ(j["grounding"].size(), 1u);
  const auto& box = j["grounding"][0];
  EXPECT_EQ(box["label"], "red square");
  // As in the server's qwenvl.grounding: bbox_2d in the original picture, bbox_2d_resized in the
  // model's frame (the numbers of the answer). 224×224 pictures are not resized: both agree.
  ASSERT_EQ(box["bbox_2d_resized"].size(), 4u);
  EXPECT_EQ(box["bbox_2d"], box["bbox_2d_resized"]);
  EXPECT_FALSE(box.contains("bbox_2d_original"));
  std::string numbers;
  for (const auto& v : box["bbox_2d_resized"])
    numbers += (numbers.empty() ? "" : ", ") + std::to_string(static_cast<int>(v.get<double>()));
  EXPECT_NE(j["text"].get<std::string>().find("[" + numbers + "]"), std::string::npos) << j["text"];
  // The drawing is the original picture with the box on it.
  const media::RgbImage drawn = media::DecodeImageFile(png.string());
  const media::RgbImage scene = media::DecodeImageFile(kScenes + c["image"].get<std::string>());
  EXPECT_EQ(drawn.width, scene.width);
  EXPECT_EQ(drawn.height, scene.height);
  EXPECT_NE(drawn.pixels, scene.pixels);
  fs::remove(png);
}

// --logprobs N: each answer token with its log-probability and N alternatives, most likely first;
// greedy (the demo's default), the chosen token is the first; the tokens' bytes spell the answer.
TEST(RunCli, LogprobsListEachAnswerToken) {
  const nlohmann::json c = DemoCase(1);  // count
  const auto r = RunQwenvl(
      "run -m " + kDemo + " --image " + kScenes + c["image"].get<std::string>() + " -p '" +
      c["question"].get<std::string>() + "' --max-tokens 110 --json --logprobs 2");
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["text"], c["reference_text"]);
  ASSERT_EQ(j["logprobs"].size(), j["completion_tokens"].get<size_t>());
  std::string spelled;
  for (const auto& t : j["logprobs"]) {
    for (const auto& b : t["bytes"]) spelled.push_back(static_cast<char>(b.get<int>()));
    ASSERT_EQ(t["top_logprobs"].size(), 2u) << t;
    EXPECT_EQ(t["top_logprobs"][0]["token"], t["token"]) << t;
    EXPECT_EQ(t["top_logprobs"][0]["logprob"], t["logprob"]) << t;
    EXPECT_GE(t["top_logprobs"][0]["logprob"].get<double>(),
              t["top_logprobs"][1]["logprob"].get<double>())
        << t;
    EXPECT_LE(t["logprob"].get<double>(), 0.0) << t;
  }
  EXPECT_EQ(spelled, j["text"].get<std::string>());
  const auto bad = RunQwenvl("run -m " + kDemo + " -p hi --logprobs 21", true);
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.out.find("logprobs"), std::string::npos) << bad.out;
}

TEST(RunCli, BadInputIsAClearErrorNotACrash) {
  auto r = RunQwenvl("run -m " + kDemo + " --image /nonexistent.png -p hi", true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("/nonexistent.png"), std::string::npos) << r.out;
  r = RunQwenvl("run -m /nonexistent-model -p hi", true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("/nonexistent-model"), std::string::npos) << r.out;
  r = RunQwenvl("run -m " + kDemo + " --image " + QWENVL_DATA_DIR + "/demo/cases.json -p hi", true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("error"), std::string::npos) << r.out;
  r = RunQwenvl("run -m " + kDemo + " --ctx 32 --image " + kScenes + "scenes/scene00.png -p hi",
                true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("context"), std::string::npos) << r.out;
  // Weight precisions: a name outside the table is refused with the accepted ones, before loading.
  for (const char* flag : {"--weights q5", "--vision-weights int8", "--weights ''"}) {
    r = RunQwenvl("run -m " + kDemo + " " + flag + " -p hi", true);
    EXPECT_EQ(r.status, 1) << flag;
    EXPECT_NE(r.out.find("bf16 (as stored), q8, q4"), std::string::npos) << flag << ": " << r.out;
  }
  // KV-cache types likewise: refused by the flag's name before the model loads.
  for (const char* flag : {"--kv-type q4", "--kv-type F32", "--kv-type ''"}) {
    r = RunQwenvl("run -m " + kDemo + " " + flag + " -p hi", true);
    EXPECT_NE(r.status, 0) << flag;
    EXPECT_NE(r.out.find("--kv-type"), std::string::npos) << flag << ": " << r.out;
  }
}

TEST(ChatCli, KeepsThePictureAcrossTurnsAndReusesTheCache) {
  const nlohmann::json c0 = DemoCase(0);  // color, scene00
  const std::string script = "/image " + kScenes + c0["image"].get<std::string>() + "\n" +
                             c0["question"].get<std::string>() + "\n" +
                             "How many shapes are there?\n/reset\n/quit\n";
  const auto r = RunQwenvl("chat -m " + kDemo + " --stats --max-tokens 40", true, script);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find(c0["reference_text"].get<std::string>()), std::string::npos) << r.out;
  // The second turn reuses the first turn's tokens (picture included).
  const size_t second = r.out.find("prompt tokens (", r.out.find("prompt tokens (") + 1);
  ASSERT_NE(second, std::string::npos) << r.out;
  const long reused = std::stol(r.out.substr(second + std::string("prompt tokens (").size()));
  EXPECT_GE(reused, static_cast<long>(c0["prompt_ids"].size())) << r.out;
  EXPECT_NE(r.out.find("(conversation cleared)"), std::string::npos);
}

}  // namespace
}  // namespace qwenvl::cli
