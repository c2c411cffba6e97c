// `qwenvl replay` as a user runs it: the built binary on a generated tiny model and a fixture case.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.h"
#include "io/test_checkpoint.h"

namespace qwenvl::cli {
namespace {

namespace fs = std::filesystem;

using testing::CommandResult;
using testing::RunQwenvl;

class ReplayCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("qwenvl_replay_cli_" + std::to_string(::getpid()));
    io::WriteTestModel(io::GetTestModelPreset("tiny"), (root_ / "tiny").string(),
                       QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct");
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  static inline fs::path root_;
  const std::string case_dir_ = QWENVL_TEST_DATA "/model";
};

TEST_F(ReplayCli, TinyImageWithinTolerance) {
  const fs::path dump = root_ / "dump.safetensors";
  const CommandResult r =
      RunQwenvl("replay -m " + (root_ / "tiny").string() + " --case " + case_dir_ +
                "/tiny.image.json --threads 2 --kernels f32 --tolerance --dump " + dump.string());
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_LT(j.at("max_abs_topk_logit").get<double>(), 2e-3);
  EXPECT_LT(j.at("max_abs_logsumexp").get<double>(), 2e-3);
  EXPECT_LT(j.at("max_abs_logits_last").get<double>(), 2e-3);
  EXPECT_TRUE(j.at("position_ids_match").get<bool>());
  EXPECT_TRUE(j.at("rope_delta_match").get<bool>());
  EXPECT_LT(j.at("vision_embeds").at("max_rel").get<double>(), 1e-3);
  EXPECT_TRUE(j.at("vision_window_index_match").get<bool>());
  EXPECT_EQ(j.at("greedy_match"), j.at("greedy_total"));
  EXPECT_TRUE(fs::exists(dump));
}

// --tolerance turns a disagreement into exit status 1; without it the report still prints.
TEST_F(ReplayCli, ToleranceSetsTheExitCode) {
  std::ifstream in(case_dir_ + "/tiny.text.json");
  nlohmann::json c = nlohmann::json::parse(in);
  c["greedy_ids"][0] = c["greedy_ids"][0].get<int64_t>() + 1;
  c["reference"] = case_dir_ + "/" + c["reference"].get<std::string>();
  const fs::path edited = root_ / "edited.json";
  std::ofstream(edited) << c.dump();
  const std::string base = "replay -m " + (root_ / "tiny").string() + " --case " + edited.string();
  const CommandResult plain = RunQwenvl(base);
  EXPECT_EQ(plain.status, 0);
  EXPECT_EQ(nlohmann::json::parse(plain.out).at("greedy_match").get<int>(), 0);
  EXPECT_EQ(RunQwenvl(base + " --tolerance").status, 1);
}

// --kernels is checked before the model loads: a bad spec is a usage error that names the item.
TEST_F(ReplayCli, BadKernelSpecIsAnErrorNamingIt) {
  const std::string base =
      "replay -m " + (root_ / "tiny").string() + " --case " + case_dir_ + "/tiny.text.json";
  for (const std::string spec : {"warp", "bf16=int8", "q9=f32", "bf16.gemx=f32", "f32,,f32"}) {
    const CommandResult r = RunQwenvl(base + " --kernels '" + spec + "'", /*with_stderr=*/true);
    EXPECT_NE(r.status, 0) << spec;
    EXPECT_NE(r.out.find("--kernels"), std::string::npos) << spec << ": " << r.out;
  }
}

// --kv-type: a bf16 or q8 cache is replayed against the float32 fixtures, with errors that grow
// with the rounding (f32 < bf16 < q8) but keep the greedy answer of this case; an unknown type is a
// usage error naming the flag, before the model loads.
TEST_F(ReplayCli, KvTypesReplayWithTheirRounding) {
  const std::string base = "replay -m " + (root_ / "tiny").string() + " --case " + case_dir_ +
                           "/tiny.image.json --threads 2 --kernels f32";
  double previous = -1;
  for (const std::string type : {"f32", "bf16", "q8"}) {
    const CommandResult r = RunQwenvl(base + " --kv-type " + type);
    ASSERT_EQ(r.status, 0) << type << ": " << r.out;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    const double err = j.at("max_abs_topk_logit").get<double>();
    std::printf("[ kv ] replay tiny.image kv %-4s max_abs_topk_logit %.2e\n", type.c_str(), err);
    EXPECT_GT(err, previous) << type;
    EXPECT_LT(err, 0.1) << type;
    previous = err;
  }
  const CommandResult bad = RunQwenvl(base + " --kv-type q4", /*with_stderr=*/true);
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.out.find("--kv-type"), std::string::npos) << bad.out;
}

TEST_F(ReplayCli, MissingCaseIsAnError) {
  EXPECT_EQ(
      RunQwenvl("replay -m " + (root_ / "tiny").string() + " --case /nonexistent.json").status, 1);
}

}  // namespace
}  // namespace qwenvl::cli
