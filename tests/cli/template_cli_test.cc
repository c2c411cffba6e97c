// `qwenvl template` as a user runs it: the built binary on the 3B model files and fixture cases.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.h"

namespace qwenvl::cli {
namespace {

namespace fs = std::filesystem;

using testing::CommandResult;
using testing::RunQwenvl;

class TemplateCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("qwenvl_template_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string WriteFile(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
  const std::string model_ = QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct";
};

TEST_F(TemplateCli, PrintsExactlyTheFixtureText) {
  std::ifstream in(QWENVL_TEST_DATA "/chat_template/cases.json");
  const nlohmann::json cases = nlohmann::json::parse(in)["cases"];
  ASSERT_FALSE(cases.empty());
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    const std::string file = WriteFile("messages.json", cases[i]["messages"].dump());
    std::string args = "template -m " + model_ + " --messages " + file;
    if (cases[i]["add_generation_prompt"].get<bool>()) args += " --add-generation-prompt";
    if (cases[i]["add_vision_id"].get<bool>()) args += " --add-vision-id";
    const CommandResult r = RunQwenvl(args, true);
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(r.out, cases[i]["text"].get<std::string>());
  }
}

TEST_F(TemplateCli, AcceptsAnObjectWithMessages) {
  const std::string file =
      WriteFile("conv.json", R"({"messages": [{"role": "system", "content": "S"}]})");
  const CommandResult r = RunQwenvl("template -m " + model_ + " --messages " + file, true);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "<|im_start|>system\nS<|im_end|>\n");
}

TEST_F(TemplateCli, BadInputExitsWithAnError) {
  const std::string bad = WriteFile("bad.json", "{not json");
  CommandResult r = RunQwenvl("template -m " + model_ + " --messages " + bad, true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("not valid JSON"), std::string::npos) << r.out;
  r = RunQwenvl("template -m " + dir_.string() + " --messages " + bad, true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("no chat template"), std::string::npos) << r.out;
  const std::string not_list = WriteFile("obj.json", R"({"role": "user"})");
  r = RunQwenvl("template -m " + model_ + " --messages " + not_list, true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("array of messages"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace qwenvl::cli
