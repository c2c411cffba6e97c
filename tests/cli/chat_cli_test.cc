// `qwenvl chat` with its input piped in (a script): the commands, quoted paths, `"""` messages,
// /save and /load, hostile lines, and no history file when stdin is not a terminal.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_runner.h"

namespace qwenvl::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::RunQwenvl;

const std::string kDemo = QWENVL_DEMO_MODEL_DIR;
const std::string kScene = QWENVL_DATA_DIR "/demo/scenes/scene00.png";

class ChatScript : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("qwenvl_chat_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "my pics");
    fs::copy_file(kScene, dir_ / "my pics" / "scene 0.png");
    // The history would go here on a terminal; a script must leave it alone.
    ::setenv("XDG_STATE_HOME", (dir_ / "state").c_str(), 1);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  nlohmann::json ReadJson(const fs::path& p) {
    std::ifstream in(p);
    return nlohmann::json::parse(in);
  }
  fs::path dir_;
};

TEST_F(ChatScript, CommandsPathsAndMultilineMessages) {
  const std::string pics = (dir_ / "my pics").string();
  const std::string escaped = dir_.string() + "/my\\ pics";
  const std::string saved = (dir_ / "conversation.json").string();
  const std::string script =
      "/help\n"
      "/set max_tokens 6\n"
      "/set\n"
      "/set top_p 7\n"
      "/frobnicate now\n"
      "/image '" +
      pics +
      "/missing.png'\n"
      "/image '" +
      pics +
      "/scene 0.png\n"  // unterminated quote
      "/image " +
      escaped +
      "/scene\\ 0.png\n"
      "/image " +
      pics +
      "/scene 0.png\n"  // unquoted, with a space: taken whole as it names a file
      "\"" +
      pics +
      "/scene 0.png\"\n"  // a message that is a path
      "/system Answer briefly.\n"
      "\"\"\"How many shapes\n"
      "are there?\"\"\"\n"
      "/save " +
      saved +
      "\n"
      "/load " +
      escaped +
      "/scene\\ 0.png\n"  // not JSON
      "/quit\n"
      "never read\n";
  const auto r = RunQwenvl("chat -m " + kDemo, true, script);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("Ctrl-C stops an answer"));
  EXPECT_THAT(r.out, HasSubstr("max_tokens          6"));
  EXPECT_THAT(r.out, HasSubstr("/set top_p 7: expected 0 < top_p <= 1"));
  EXPECT_THAT(r.out, HasSubstr("unknown command /frobnicate"));
  EXPECT_THAT(r.out, HasSubstr("missing.png: no such file"));
  EXPECT_THAT(r.out, HasSubstr("unterminated ' quote"));
  EXPECT_THAT(r.out, HasSubstr("2 messages saved"));
  EXPECT_THAT(r.out, HasSubstr("not valid JSON (the conversation is unchanged)"));
  EXPECT_EQ(r.out.find("never read"), std::string::npos);
  EXPECT_EQ(r.out.find(">>> "), std::string::npos) << "no prompt when stdin is not a terminal";
  const nlohmann::json doc = ReadJson(saved);
  EXPECT_EQ(doc["system"], "Answer briefly.");
  ASSERT_EQ(doc["messages"].size(), 2u) << doc;
  EXPECT_EQ(doc["messages"][0]["content"], "How many shapes\nare there?");
  // The escaped path, the unquoted one and the message that was a path: all attached, by
  // absolute path.
  EXPECT_EQ(
      doc["messages"][0]["images"],
      nlohmann::json::array({pics + "/scene 0.png", pics + "/scene 0.png", pics + "/scene 0.png"}));
  EXPECT_EQ(doc["messages"][1]["role"], "assistant");
  EXPECT_FALSE(fs::exists(dir_ / "state")) << "a script wrote a history file";
}

// A conversation continued in the same process (KV cache reused) and the same conversation
// loaded from its file into a fresh process (all computed anew) give the same greedy answer.
TEST_F(ChatScript, LoadedConversationAnswersAsTheLiveOne) {
  const std::string saved = (dir_ / "one turn.json").string();
  // The picture comes from the command line (chat --image) in the live run.
  const std::string first =
      "/set max_tokens 12\nWhat color is the circle?\n/save '" + saved + "'\n";
  const std::string second = "How many shapes are there?\n/save '" + saved + ".2'\n";
  const auto live = RunQwenvl("chat -m " + kDemo + " --image " + kScene, true, first + second);
  ASSERT_EQ(live.status, 0) << live.out;
  const nlohmann::json a = ReadJson(saved + ".2");
  ASSERT_EQ(a["messages"].size(), 4u) << a;
  EXPECT_EQ(a["messages"][0]["images"], nlohmann::json::array({kScene}));
  const auto loaded =
      RunQwenvl("chat -m " + kDemo, true, "/set max_tokens 12\n/load '" + saved + "'\n" + second);
  ASSERT_EQ(loaded.status, 0) << loaded.out;
  EXPECT_THAT(loaded.out, HasSubstr("2 messages loaded"));
  // The second run saved over the same file name.
  const nlohmann::json b = ReadJson(saved + ".2");
  EXPECT_EQ(a, b);
  EXPECT_FALSE(a["messages"][3]["content"].get<std::string>().empty());
}

TEST_F(ChatScript, HostileLinesAreDroppedAndTheChatGoesOn) {
  std::string script = std::string(3 << 20, 'x') + "\n";  // a 3 MiB line
  script += std::string("/set max_tokens\0 4\n", 19);     // a NUL byte
  script += "\xff\xfe /image \xc3\n";                     // invalid UTF-8: a message
  // A message over 1 MiB, in pieces: dropped whole, up to its closing quotes.
  script += "\"\"\"\n" + std::string(1 << 19, 'y') + "\n" + std::string(1 << 19, 'y') +
            "\n/image a.png\n\"\"\"\n";
  script += "/image " + std::string(5000, 'p') + "\n";
  std::string bomb = "/image";
  for (int i = 0; i < 100000; ++i) bomb += " a";
  script += bomb + "\n/set max_tokens 3\n/save '" + (dir_ / "after.json").string() + "'\n";
  script += std::string(100, 'z') + "\n";
  script += "\"\"\"never closed\n";
  const auto r = RunQwenvl("chat -m " + kDemo + " --max-tokens 3", true, script);
  ASSERT_EQ(r.status, 0) << r.out.substr(0, 2000);
  EXPECT_THAT(r.out, HasSubstr("a line longer than 1048576 bytes, dropped"));
  EXPECT_THAT(r.out, HasSubstr("a message longer than 1048576 bytes, dropped"));
  EXPECT_THAT(r.out, HasSubstr("longer than 4096 bytes"));
  EXPECT_THAT(r.out, HasSubstr("more than 16 paths"));
  EXPECT_THAT(r.out, HasSubstr("messages saved"));
  EXPECT_THAT(r.out, HasSubstr(std::string("unknown option 'max_tokens\0", 27)));
  EXPECT_EQ(r.out.find("a.png attached"), std::string::npos) << "a line of the dropped message";
  EXPECT_THAT(r.out, HasSubstr("an unterminated \"\"\" message was dropped"));
}

}  // namespace
}  // namespace qwenvl::cli
