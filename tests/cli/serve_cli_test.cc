// `qwenvl serve` as a user starts it: option checks, a port in use, pictures one after another on
// one server, and SIGTERM.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "../server/test_client.h"
#include "cli_runner.h"

namespace qwenvl::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A `qwenvl serve` child process on an ephemeral port, its stdout and stderr in files.
class ServeProcess {
 public:
  explicit ServeProcess(const std::string& extra_args) {
    const auto tag = std::to_string(::getpid()) + "_" + std::to_string(counter_++);
    out_ = std::filesystem::temp_directory_path() / ("qwenvl_serve_out_" + tag);
    err_ = std::filesystem::temp_directory_path() / ("qwenvl_serve_err_" + tag);
    const std::string cmd = std::string("exec ") + QWENVL_BINARY_DIR "/qwenvl serve -m " +
                            QWENVL_DEMO_MODEL_DIR + " " + extra_args + " > " + out_.string() +
                            " 2> " + err_.string();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~ServeProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove(out_);
    std::filesystem::remove(err_);
  }
  // The port once "listening on" is printed; 0 when the process exits first or 60 s pass.
  int WaitForPort() {
    const auto end = Clock::now() + 60s;
    while (Clock::now() < end) {
      const std::string out = Read(out_);
      const size_t at = out.find("listening on http://");
      if (at != std::string::npos && out.find('\n', at) != std::string::npos) {
        return std::stoi(out.substr(out.rfind(':', out.find('\n', at)) + 1));
      }
      if (Exited(0ms)) return 0;
      std::this_thread::sleep_for(20ms);
    }
    return 0;
  }
  bool Exited(std::chrono::milliseconds within) {
    const auto end = Clock::now() + within;
    do {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return true;
      }
      std::this_thread::sleep_for(10ms);
    } while (Clock::now() < end);
    return false;
  }
  void Signal(int sig) { ::kill(pid_, sig); }
  int exit_code() const { return exit_code_; }
  std::string err() const { return Read(err_); }

 private:
  static std::string Read(const std::filesystem::path& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  static inline int counter_ = 0;
  std::filesystem::path out_, err_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
};

std::string Base64File(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), {});
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v =
        (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += alphabet[(v >> k) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

json PictureQuestion(const std::string& scene, const std::string& question, bool stream) {
  const std::string uri = "data:image/png;base64," +
                          Base64File(std::string(QWENVL_SOURCE_DIR "/data/demo/scenes/") + scene);
  return {{"messages",
           {{{"role", "user"},
             {"content",
              {{{"type", "image_url"}, {"image_url", {{"url", uri}}}},
               {{"type", "text"}, {"text", question}}}}}}},
          {"max_tokens", 24},
          {"temperature", 0},
          {"stream", stream}};
}

TEST(ServeCliTest, OutOfRangePortIsRefusedBeforeLoading) {
  const auto r = testing::RunQwenvl("serve -m " QWENVL_DEMO_MODEL_DIR " --port 70000", true);
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.out, HasSubstr("70000"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("listening")));
}

TEST(ServeCliTest, PortInUseIsAnErrorThatNamesIt) {
  ServeProcess first("--port 0");
  const int port = first.WaitForPort();
  ASSERT_GT(port, 0) << first.err();
  const auto r =
      testing::RunQwenvl("serve -m " QWENVL_DEMO_MODEL_DIR " --port " + std::to_string(port), true);
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.out, HasSubstr(std::to_string(port)));
  EXPECT_THAT(r.out, HasSubstr("in use"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("listening")));
}

// The most common thing users do: ask about one picture, then about another, on one server. Every
// answer must be what a fresh server gives for the same request.
TEST(ServeCliTest, PicturesOneAfterAnotherAnswerLikeAFreshServer) {
  const std::vector<std::pair<std::string, std::string>> asks = {
      {"scene00.png", "How many shapes are there?"},
      {"scene01.png", "How many shapes are there?"},
      {"scene00.png", "How many shapes are there?"},
      {"scene02.png", "What color is the circle?"},
      {"scene01.png", "What color is the circle?"}};
  auto answer = [](int port, const json& body) {
    auto r = server::testing::Fetch(port, "POST", "/v1/chat/completions", body.dump());
    EXPECT_TRUE(r);
    if (!r) return std::string();
    EXPECT_EQ(r->status, 200) << r->body;
    return r->status == 200
               ? json::parse(r->body)["choices"][0]["message"]["content"].get<std::string>()
               : r->body;
  };
  std::vector<std::string> fresh;
  for (const auto& [scene, question] : asks) {
    ServeProcess p("--port 0 --parallel 2");
    const int port = p.WaitForPort();
    ASSERT_GT(port, 0) << p.err();
    fresh.push_back(answer(port, PictureQuestion(scene, question, false)));
  }
  ServeProcess shared("--port 0 --parallel 2");
  const int port = shared.WaitForPort();
  ASSERT_GT(port, 0) << shared.err();
  for (size_t i = 0; i < asks.size(); ++i) {
    EXPECT_EQ(answer(port, PictureQuestion(asks[i].first, asks[i].second, false)), fresh[i])
        << "request " << i;
  }
}

TEST(ServeCliTest, ServedModelNamesAreListedAndChecked) {
  ServeProcess p(
      "--port 0 --served-model-name qwen --served-model-name Qwen/Qwen2.5-VL-3B-Instruct");
  const int port = p.WaitForPort();
  ASSERT_GT(port, 0) << p.err();
  const auto models = server::testing::Fetch(port, "GET", "/v1/models");
  ASSERT_TRUE(models);
  const json data = json::parse(models->body)["data"];
  ASSERT_EQ(data.size(), 2u) << models->body;
  EXPECT_EQ(data[0]["id"], "qwen");
  EXPECT_EQ(data[1]["id"], "Qwen/Qwen2.5-VL-3B-Instruct");
  const auto unknown = server::testing::Fetch(port, "GET", "/v1/models/other");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  const auto empty = testing::RunQwenvl(
      "serve -m " QWENVL_DEMO_MODEL_DIR " --port 0 --served-model-name ''", true);
  EXPECT_NE(empty.status, 0);
  EXPECT_THAT(empty.out, HasSubstr("served model names must not be empty"));
}

// The tokenizer endpoints on the model's own tokenizer: special tokens written in the text are
// recognized, ids round-trip, and an id past the vocabulary is refused.
TEST(ServeCliTest, TokenizerEndpointsUseTheModelsTokenizer) {
  ServeProcess p("--port 0");
  const int port = p.WaitForPort();
  ASSERT_GT(port, 0) << p.err();
  auto post = [port](const std::string& path, const json& body) {
    auto r = server::testing::Fetch(port, "POST", path, body.dump());
    EXPECT_TRUE(r);
    return r ? std::make_pair(r->status, json::parse(r->body, nullptr, false))
             : std::make_pair(0, json());
  };
  const auto [status, tokens] = post("/tokenize", {{"content", "<|im_start|>user\nhi"}});
  ASSERT_EQ(status, 200) << tokens.dump();
  ASSERT_GE(tokens["tokens"].size(), 3u);
  EXPECT_EQ(tokens["tokens"][0], 151644);  // <|im_start|> is one token
  const auto [back_status, back] = post("/detokenize", {{"tokens", tokens["tokens"]}});
  EXPECT_EQ(back_status, 200);
  EXPECT_EQ(back["content"], "<|im_start|>user\nhi");
  const auto [bad_status, bad] = post("/detokenize", {{"tokens", json::array({151665})}});
  EXPECT_EQ(bad_status, 400);
  EXPECT_EQ(bad["error"]["param"], "tokens[0]");
  const auto [template_status, rendered] =
      post("/apply-template", {{"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  EXPECT_EQ(template_status, 200);
  EXPECT_THAT(rendered["prompt"].get<std::string>(),
              HasSubstr("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"));
}

TEST(ServeCliTest, SigtermWithAnIdleConnectionExitsPromptly) {
  ServeProcess p("--port 0");
  const int port = p.WaitForPort();
  ASSERT_GT(port, 0) << p.err();
  server::testing::TestConnection idle(port);  // a client that connected and sends nothing
  auto health = server::testing::Fetch(port, "GET", "/health");
  ASSERT_TRUE(health);
  const auto t0 = Clock::now();
  p.Signal(SIGTERM);
  ASSERT_TRUE(p.Exited(5s)) << p.err();
  EXPECT_EQ(p.exit_code(), 0) << p.err();
  EXPECT_LT(Clock::now() - t0, 3s);
  EXPECT_THAT(p.err(), HasSubstr("GET /health 200"));
}

// Behind a load balancer: the instance name in the header and /health; SIGTERM with a drain delay
// turns /health to 503 "draining" while the replica still answers, then it exits.
TEST(ServeCliTest, InstanceNameAndDrainDelay) {
  ServeProcess p("--port 0 --instance-name cli-7 --drain-delay 2");
  const int port = p.WaitForPort();
  ASSERT_GT(port, 0) << p.err();
  auto health = server::testing::Fetch(port, "GET", "/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->header("x-qwenvl-instance"), "cli-7");
  EXPECT_EQ(json::parse(health->body)["instance"], "cli-7");
  p.Signal(SIGTERM);
  std::optional<server::testing::Reply> draining;
  for (int i = 0; i < 100; ++i) {  // the signal is handled on the server's loop: poll briefly
    draining = server::testing::Fetch(port, "GET", "/health");
    if (draining && draining->status == 503) break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(draining) << p.err();
  EXPECT_EQ(draining->status, 503);
  EXPECT_EQ(json::parse(draining->body)["status"], "draining");
  ASSERT_TRUE(p.Exited(15s)) << p.err();
  EXPECT_EQ(p.exit_code(), 0) << p.err();
}

TEST(ServeCliTest, AnInstanceNameThatCannotBeAHeaderIsRefusedBeforeLoading) {
  ServeProcess p("--port 0 --instance-name 'two words'");
  ASSERT_TRUE(p.Exited(30s));
  EXPECT_NE(p.exit_code(), 0);
  EXPECT_THAT(p.err(), HasSubstr("instance name"));
  EXPECT_THAT(p.err(), ::testing::Not(HasSubstr("loading")));
}

}  // namespace
}  // namespace qwenvl::cli
