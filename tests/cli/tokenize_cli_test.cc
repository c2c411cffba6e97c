// `qwenvl tokenize` end to end: runs the built binary on the checked-in Qwen2.5-VL tokenizer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "util/mapped_file.h"

namespace {

using ::testing::HasSubstr;

const std::string kBinary = QWENVL_BINARY_DIR "/qwenvl";
const std::string kModel = QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct";

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

RunResult RunTokenize(const std::string& args) {
  RunResult result;
  FILE* pipe = popen((kBinary + " " + args + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string WriteTemp(const std::string& name, const std::string& content) {
  const auto path = std::filesystem::temp_directory_path() / ("qwenvl_cli_" + name);
  std::ofstream(path) << content;
  return path.string();
}

TEST(TokenizeCli, EncodesText) {
  const RunResult r = RunTokenize("tokenize -m " + kModel + " 'Hello world'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "[9707,1879]\n");
  EXPECT_EQ(RunTokenize("tokenize -m " + kModel + " ''").output, "[]\n");
}

TEST(TokenizeCli, EncodesAFileOfStringsLikeTheFixtures) {
  const auto cases = nlohmann::json::parse(
      qwenvl::ReadFileToString(QWENVL_TEST_DATA "/tokenizer/cases.json"))["cases"];
  nlohmann::json texts = nlohmann::json::array();
  nlohmann::json expected = nlohmann::json::array();
  for (const auto& c : cases) {
    texts.push_back(c["text"]);
    expected.push_back(c["ids"]);
  }
  const RunResult r =
      RunTokenize("tokenize -m " + kModel + " --file " + WriteTemp("texts.json", texts.dump()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output), expected);
}

TEST(TokenizeCli, Decodes) {
  RunResult r = RunTokenize("tokenize -m " + kModel + " --decode '[151644,9707,1879,151645]'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "\"<|im_start|>Hello world<|im_end|>\"\n");
  r = RunTokenize("tokenize -m " + kModel + " --decode --skip-special '[151644,9707,1879,151645]'");
  EXPECT_EQ(r.output, "\"Hello world\"\n");
  const std::string ids = WriteTemp("ids.json", "[[9707, 1879], [], [15946]]");
  r = RunTokenize("tokenize -m " + kModel + " --decode --file " + ids);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output), nlohmann::json({"Hello world", "", "中"}));
}

TEST(TokenizeCli, BadInputFailsWithAMessage) {
  RunResult r = RunTokenize("tokenize -m /nonexistent/model 'hi'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("/nonexistent/model/tokenizer.json"));
  r = RunTokenize("tokenize -m " + kModel + " --decode '[1, \"x\"]'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("token id expected"));
  r = RunTokenize("tokenize -m " + kModel + " --decode 'not json'");
  EXPECT_EQ(r.exit_code, 1);
  // Beyond the token-id type: refused, not wrapped around to another token (4294967297 → 1).
  for (const char* ids : {"'[4294967297]'", "'[-2147483649]'", "'[1e3]'"}) {
    r = RunTokenize("tokenize -m " + kModel + " --decode " + ids);
    EXPECT_EQ(r.exit_code, 1) << ids;
    EXPECT_THAT(r.output, HasSubstr("token id expected")) << ids;
  }
  r = RunTokenize("tokenize -m " + kModel);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("either a text argument or --file"));
  r = RunTokenize("tokenize -m " + kModel + " --file /nonexistent/texts.json");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("/nonexistent/texts.json"));
}

}  // namespace
