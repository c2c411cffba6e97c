// The command line's conventions: bare `qwenvl` prints the help, every --help shows the defaults,
// the short flags llama.cpp users type, the prompt from standard input (-p -) or a file (-f), and
// run --boxes refused before the model loads when it cannot be honoured.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
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

// A file in the temporary folder, removed at the end of the test.
struct TempFile {
  explicit TempFile(const std::string& name, const std::string& contents = {})
      : path(fs::temp_directory_path() / ("qwenvl_cli_" + std::to_string(getpid()) + "_" + name)) {
    std::ofstream(path, std::ios::binary) << contents;
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

TEST(CliConventions, BareCommandPrintsTheHelp) {
  const auto r = RunQwenvl("", true);
  EXPECT_EQ(r.status, 0) << r.out;
  for (const char* command : {"run", "chat", "serve", "bench"})
    EXPECT_NE(r.out.find(command), std::string::npos) << command << ": " << r.out;
  EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
}

TEST(CliConventions, HelpShowsDefaultsAndShortFlags) {
  const auto run = RunQwenvl("run --help", true);
  ASSERT_EQ(run.status, 0) << run.out;
  // The option's line holds its short name and its default.
  const auto line_of = [](const std::string& help, const std::string& option) {
    const size_t at = help.find(option);
    if (at == std::string::npos) return std::string();
    const size_t begin = help.rfind('\n', at) + 1;
    return help.substr(begin, help.find('\n', at) - begin);
  };
  EXPECT_NE(line_of(run.out, "--max-tokens").find("-n,"), std::string::npos) << run.out;
  EXPECT_NE(line_of(run.out, "--max-tokens").find("512"), std::string::npos) << run.out;
  EXPECT_NE(line_of(run.out, "--ctx").find("-c,"), std::string::npos) << run.out;
  EXPECT_NE(line_of(run.out, "--ctx").find("32768"), std::string::npos) << run.out;
  EXPECT_NE(line_of(run.out, "--threads").find("-t,"), std::string::npos) << run.out;
  EXPECT_NE(line_of(run.out, "--threads").find("0"), std::string::npos) << run.out;
  EXPECT_NE(line_of(run.out, "--weights").find("bf16"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("--temp"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("-f,--file"), std::string::npos) << run.out;
  const auto serve = RunQwenvl("serve --help", true);
  ASSERT_EQ(serve.status, 0) << serve.out;
  EXPECT_NE(line_of(serve.out, "--port").find("8080"), std::string::npos) << serve.out;
  EXPECT_NE(line_of(serve.out, "--parallel").find("4"), std::string::npos) << serve.out;
  const auto bench = RunQwenvl("bench --help", true);
  ASSERT_EQ(bench.status, 0) << bench.out;
  EXPECT_NE(line_of(bench.out, "--threads").find("-t,"), std::string::npos) << bench.out;
  const auto chat = RunQwenvl("chat --help", true);
  ASSERT_EQ(chat.status, 0) << chat.out;
  EXPECT_NE(line_of(chat.out, "--max-tokens").find("512"), std::string::npos) << chat.out;
}

// -f FILE with -n, -t, -c and --temp: the greedy answer is the reference answer's beginning.
TEST(CliConventions, PromptFromAFileWithShortFlags) {
  const nlohmann::json c = DemoCase(1);  // count
  TempFile question("question.txt", c["question"].get<std::string>() + "\n");
  const auto r =
      RunQwenvl("run -m " + kDemo + " --image " + kScenes + c["image"].get<std::string>() + " -f " +
                question.path.string() + " -n 6 -t 1 -c 2048 --temp 0 --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["completion_tokens"], 6);
  EXPECT_EQ(j["finish_reason"], "length");
  EXPECT_EQ(j["prompt_tokens"].get<size_t>(), c["prompt_ids"].size());  // the newline dropped
  const std::string text = j["text"];
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(c["reference_text"].get<std::string>().rfind(text, 0), 0u) << text;
}

// -p - reads standard input; --quiet leaves standard error empty, so that stdout and stderr
// together are the one JSON object.
TEST(CliConventions, PromptFromStandardInputAndQuiet) {
  const nlohmann::json c = DemoCase(1);
  const auto r = RunQwenvl("run -m " + kDemo + " --image " + kScenes +
                               c["image"].get<std::string>() + " -p - -n 1 --json --quiet",
                           /*with_stderr=*/true, c["question"].get<std::string>() + "\n");
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);  // nothing else on either stream
  EXPECT_EQ(j["prompt_tokens"].get<size_t>(), c["prompt_ids"].size());
}

TEST(CliConventions, BadPromptSourcesAreClearErrors) {
  // Checked before the model loads: a model folder that does not exist is never reached.
  const std::string run = "run -m /nonexistent-model ";
  auto r = RunQwenvl(run, true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("no prompt"), std::string::npos) << r.out;
  TempFile q("q.txt", "What is it?");
  r = RunQwenvl(run + "-p hi -f " + q.path.string(), true);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("excludes"), std::string::npos) << r.out;
  r = RunQwenvl(run + "-f /nonexistent/question.txt", true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("/nonexistent/question.txt"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cannot read"), std::string::npos) << r.out;
  r = RunQwenvl(run + "-f " + fs::temp_directory_path().string(), true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("folder"), std::string::npos) << r.out;
  TempFile big("big.txt");
  fs::resize_file(big.path, (size_t{4} << 20) + 1);  // sparse: no disk written
  r = RunQwenvl(run + "-f " + big.path.string(), true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("larger than 4 MiB"), std::string::npos) << r.out;
  // An endless source is read only up to the bound.
  r = RunQwenvl(run + "-f /dev/zero", true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("larger than 4 MiB"), std::string::npos) << r.out;
  TempFile binary("binary.txt", std::string("\xff\xfe\x00 what", 8));
  r = RunQwenvl(run + "-f " + binary.path.string(), true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("not UTF-8"), std::string::npos) << r.out;
  TempFile empty("empty.txt", "\n\n");
  r = RunQwenvl(run + "-f " + empty.path.string(), true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("empty"), std::string::npos) << r.out;
  r = RunQwenvl(run + "-p - < /dev/null", true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("standard input is empty"), std::string::npos) << r.out;
}

TEST(CliConventions, BoxesProblemsAreReportedBeforeLoading) {
  const std::string run = "run -m /nonexistent-model -p hi ";
  const std::string image = kScenes + "scenes/scene00.png";
  auto r = RunQwenvl(run + "--boxes /tmp/out.png", true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("needs a picture"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("nonexistent-model"), std::string::npos) << r.out;
  r = RunQwenvl(run + "--image " + image + " --boxes /nonexistent-folder/out.png", true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("no folder /nonexistent-folder"), std::string::npos) << r.out;
  r = RunQwenvl(run + "--image " + image + " --boxes " + fs::temp_directory_path().string(), true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("is a folder"), std::string::npos) << r.out;
  if (::geteuid() != 0) {  // root writes anywhere
    TempFile locked("locked");
    fs::remove(locked.path);
    fs::create_directory(locked.path);
    fs::permissions(locked.path, fs::perms::owner_read | fs::perms::owner_exec);
    r = RunQwenvl(run + "--image " + image + " --boxes " + (locked.path / "out.png").string(),
                  true);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("cannot write"), std::string::npos) << r.out;
    fs::permissions(locked.path, fs::perms::owner_all);
  }
  // A writable place passes the check: the error is then the model's.
  TempFile out("boxes.png");
  r = RunQwenvl(run + "--image " + image + " --boxes " + out.path.string(), true);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("nonexistent-model"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace qwenvl::cli
