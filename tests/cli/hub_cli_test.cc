// `-m ORG/NAME`, `qwenvl list` and `qwenvl rm` on a Hugging Face cache laid out as `hf download`
// leaves it, through the built binary (HF_HUB_CACHE points at a scratch folder).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "../hub/hub_double.h"
#include "cli_runner.h"
#include "util/sha256.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kCommit = "fedcba9876543210fedcba9876543210fedcba98";

class HubCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cache_ = fs::temp_directory_path() /
             ("qwenvl_hubcli_" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(cache_);
    fs::create_directories(cache_);
    env_ = "HF_HUB_CACHE=" + cache_.string() + " HF_HOME=" + cache_.string() + " ";
  }
  void TearDown() override { fs::remove_all(cache_); }

  // The tokenizer and config files of the published 3B model, as `hf download` stores them.
  void WriteHfFolder(const std::string& org, const std::string& name) {
    const fs::path repo = cache_ / ("models--" + org + "--" + name);
    for (const char* file : {"config.json", "tokenizer.json", "tokenizer_config.json"}) {
      std::ifstream in(std::string(QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct/") + file,
                       std::ios::binary);
      std::stringstream s;
      s << in.rdbuf();
      const std::string content = s.str();
      const std::string etag = qwenvl::Sha256Hex(
          std::span(reinterpret_cast<const uint8_t*>(content.data()), content.size()));
      fs::create_directories(repo / "blobs");
      std::ofstream(repo / "blobs" / etag, std::ios::binary) << content;
      fs::create_directories(repo / "snapshots" / kCommit);
      fs::create_symlink("../../blobs/" + etag, repo / "snapshots" / kCommit / file);
    }
    fs::create_directories(repo / "refs");
    std::ofstream(repo / "refs" / "main") << kCommit;
  }

  // The binary with the cache variables set, stdin closed (not a terminal: no question asked).
  qwenvl::cli::testing::CommandResult Run(const std::string& args,
                                          const std::string& prefix = "") const {
    return Shell(prefix + env_ + QWENVL_BINARY_DIR "/qwenvl " + args + " 2>&1 </dev/null");
  }
  static qwenvl::cli::testing::CommandResult Shell(const std::string& cmd) {
    qwenvl::cli::testing::CommandResult r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    const int status = ::pclose(p);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  }

  fs::path cache_;
  std::string env_;
};

TEST_F(HubCliTest, ModelByNameResolvesFromTheCache) {
  WriteHfFolder("Qwen", "Qwen2.5-VL-3B-Instruct");
  const auto direct =
      Run(std::string("tokenize -m ") + QWENVL_TEST_DATA + "/qwen2.5-vl-3b-instruct 'Hello world'");
  ASSERT_EQ(direct.status, 0) << direct.out;
  const auto by_name = Run("tokenize -m Qwen/Qwen2.5-VL-3B-Instruct 'Hello world'");
  EXPECT_EQ(by_name.status, 0) << by_name.out;
  EXPECT_EQ(by_name.out, direct.out);
  const auto by_commit =
      Run("tokenize -m Qwen/Qwen2.5-VL-3B-Instruct@" + kCommit + " 'Hello world'");
  EXPECT_EQ(by_commit.out, direct.out);
}

TEST_F(HubCliTest, ALocalFolderWins) {
  // A folder named like a hub model, in the working directory, is used as it is.
  const fs::path local = cache_ / "work" / "Qwen" / "Local";
  fs::create_directories(local);
  fs::copy_file(QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct/tokenizer.json",
                local / "tokenizer.json");
  const auto r = Run("tokenize -m Qwen/Local 'Hi'", "cd " + (cache_ / "work").string() + " && ");
  EXPECT_EQ(r.status, 0) << r.out;
}

TEST_F(HubCliTest, AMissingModelNamesThePullCommand) {
  const auto r = Run("tokenize -m Org/Missing@v2 'Hi'");
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.out, HasSubstr("qwenvl pull Org/Missing --revision v2"));
  EXPECT_THAT(r.out, HasSubstr(cache_.string()));
  const auto run = Run("run -m Org/Missing -p hi");
  EXPECT_NE(run.status, 0);
  EXPECT_THAT(run.out, HasSubstr("qwenvl pull Org/Missing"));
}

TEST_F(HubCliTest, ListAndRm) {
  EXPECT_THAT(Run("list").out, HasSubstr("no models"));
  WriteHfFolder("Org", "A");
  WriteHfFolder("Org", "B");
  const auto list = Run("list");
  EXPECT_EQ(list.status, 0) << list.out;
  EXPECT_THAT(list.out, HasSubstr("Org/A"));
  EXPECT_THAT(list.out, HasSubstr("Org/B"));
  EXPECT_THAT(list.out, HasSubstr(kCommit.substr(0, 12)));
  EXPECT_THAT(list.out, HasSubstr("complete"));
  const auto rm = Run("rm Org/A");
  EXPECT_EQ(rm.status, 0) << rm.out;
  EXPECT_FALSE(fs::exists(cache_ / "models--Org--A"));
  EXPECT_TRUE(fs::exists(cache_ / "models--Org--B"));
  const auto again = Run("rm Org/A");
  EXPECT_NE(again.status, 0);
  EXPECT_THAT(again.out, HasSubstr("not in the cache"));
}

TEST_F(HubCliTest, HostileNamesAreRefused) {
  fs::create_directories(cache_ / "victim");
  for (const std::string& bad :
       std::vector<std::string>{"../victim", "/tmp", "a/../../victim", "Org/A/../..", "a--b/c",
                                "'Org/A;x'", std::string(300, 'a') + "/b"}) {
    const auto r = Run("rm " + bad);
    EXPECT_NE(r.status, 0) << bad;
    EXPECT_THAT(r.out, HasSubstr("not a hub model name")) << bad;
    const auto p = Run("pull " + bad);
    EXPECT_NE(p.status, 0) << bad;
  }
  EXPECT_TRUE(fs::exists(cache_ / "victim"));
  EXPECT_NE(Run("pull Org/A --revision ../x").status, 0);
}

// The hub double serving Org/Model: the published tokenizer and config, and a 123456-byte LFS file.
qwenvl::hub::testing::DoubleRepo TokenizerRepo() {
  qwenvl::hub::testing::DoubleRepo repo;
  repo.commit = kCommit;
  for (const char* file : {"config.json", "tokenizer.json"}) {
    std::ifstream in(std::string(QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct/") + file,
                     std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    repo.files.push_back({file, s.str(), false, {}});
  }
  repo.files.push_back({"model.safetensors", std::string(123456, 'q'), true, {}});
  return repo;
}

TEST_F(HubCliTest, PullsFromHfEndpointThenRunsByName) {
  qwenvl::hub::testing::HubDouble hub;
  hub.AddRepo("Org/Model", TokenizerRepo());
  const std::string endpoint = "HF_ENDPOINT=" + hub.Endpoint() + " ";
  const auto pull = Run("pull Org/Model", endpoint);
  ASSERT_EQ(pull.status, 0) << pull.out;
  // Not a terminal: one line per file, then the snapshot folder on stdout.
  EXPECT_THAT(pull.out, HasSubstr("[3/3] "));
  EXPECT_THAT(pull.out, HasSubstr("model.safetensors 123.5 kB"));
  EXPECT_THAT(pull.out,
              HasSubstr((cache_ / "models--Org--Model" / "snapshots" / kCommit).string()));
  const auto again = Run("pull Org/Model", endpoint);
  EXPECT_THAT(again.out, HasSubstr("already in the cache"));
  const auto tokens = Run("tokenize -m Org/Model 'Hello world'");
  const auto direct =
      Run(std::string("tokenize -m ") + QWENVL_TEST_DATA + "/qwen2.5-vl-3b-instruct 'Hello world'");
  EXPECT_EQ(tokens.status, 0) << tokens.out;
  EXPECT_EQ(tokens.out, direct.out);
  EXPECT_THAT(Run("list").out, HasSubstr("Org/Model"));
}

// On a terminal (a pseudo-terminal from script(1)) a missing model is offered for download; the
// answer decides.
TEST_F(HubCliTest, OnATerminalAMissingModelIsOffered) {
  qwenvl::hub::testing::HubDouble hub;
  hub.AddRepo("Org/Model", TokenizerRepo());
  const auto in_terminal = [&](const std::string& answer) {
    return Shell("printf '" + answer + "\\n' | script -qec \"" + env_ +
                 "HF_ENDPOINT=" + hub.Endpoint() + " " + QWENVL_BINARY_DIR +
                 "/qwenvl tokenize -m Org/Model Hello\" /dev/null 2>&1");
  };
  const auto no = in_terminal("n");
  EXPECT_NE(no.status, 0) << no.out;
  EXPECT_THAT(no.out, HasSubstr("pull it now? [y/N]"));
  EXPECT_THAT(no.out, HasSubstr("qwenvl pull Org/Model"));
  EXPECT_FALSE(fs::exists(cache_ / "models--Org--Model"));
  const auto yes = in_terminal("y");
  EXPECT_EQ(yes.status, 0) << yes.out;
  EXPECT_THAT(yes.out, HasSubstr("\r\033[K[3/3]"));  // the redrawn progress line
  EXPECT_THAT(yes.out, HasSubstr("[9707]"));         // "Hello" tokenized
  EXPECT_TRUE(fs::exists(cache_ / "models--Org--Model" / "snapshots" / kCommit / "config.json"));
}

}  // namespace
