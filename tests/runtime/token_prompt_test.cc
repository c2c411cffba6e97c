// Request::prompt_ids on the tiny random checkpoint: the template's own ids given as a token prompt
// answer exactly as the messages do, through Generate, Session::Generate and Submit; a session
// reuses its cache across token prompts; and every malformed token prompt is refused with a clear
// Error(kInvalidArgument) naming prompt_ids, before any work, leaving the engine as it was.
#include <gtest/gtest.h>
#include <unistd.h>

#include <climits>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "io/test_checkpoint.h"
#include "qwenvl/engine.h"

namespace qwenvl {
namespace {

namespace fs = std::filesystem;

class TokenPromptTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("qwenvl_token_prompt_tiny_" + std::to_string(getpid())));
    io::WriteTestModel(io::GetTestModelPreset("tiny"), dir_->string(),
                       QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct");
    EngineOptions o;
    o.model_dir = dir_->string();
    o.threads = 2;
    // Exact float32 products: the bf16-rounding kernels (amx-bf16, bf16-dot) that "auto" picks on
    // some CPUs give a row other low bits in a piece of fewer than 8 rows (GEMV) than in a larger
    // one, so a reused prefix, which leaves a short piece to compute, could flip a near tie of
    // the random model; what these tests compare is what the engine keeps, not the kernels.
    o.kernels = "f32";
    o.context_length = 512;
    engine_ = Engine::Load(o).release();
  }
  static void TearDownTestSuite() {
    delete engine_;
    fs::remove_all(*dir_);
    delete dir_;
  }
  static Request Greedy(std::vector<Message> messages, int64_t max_tokens) {
    Request r;
    r.messages = std::move(messages);
    r.sampling.temperature = 0.0f;
    r.sampling.repetition_penalty = 1.1f;  // covers the prompt: the same ids, the same penalty
    r.sampling.max_new_tokens = max_tokens;
    return r;
  }
  // The same request with the template's ids in place of the messages.
  static Request AsTokens(const Request& r) {
    Request t = r;
    t.prompt_ids = engine_->Tokenize(engine_->RenderPrompt(r));
    t.messages.clear();
    t.system_prompt.reset();
    return t;
  }
  static Result Submitted(const Request& r) {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result> result;
    std::string error;
    bool done = false;
    engine_->Submit(r, nullptr, [&](const Result* got, const Error* e) {
      std::lock_guard<std::mutex> lock(mu);
      if (got != nullptr) result = *got;
      if (e != nullptr) error = e->what();
      done = true;
      cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    if (!result) throw Error(ErrorCode::kInternal, "submitted request failed: " + error);
    return *result;
  }
  static fs::path* dir_;
  static Engine* engine_;
};
fs::path* TokenPromptTest::dir_ = nullptr;
Engine* TokenPromptTest::engine_ = nullptr;

TEST_F(TokenPromptTest, TheTemplatesIdsAnswerAsTheMessages) {
  std::vector<Request> requests = {
      Greedy({Message::Text("user", "Hello, who are you?")}, 10),
      Greedy({Message::Text("system", "Answer briefly."), Message::Text("user", "Why?")}, 8),
      Greedy({Message::Text("user", "Name a colour."), Message::Text("assistant", "Red."),
              Message::Text("user", "Another one, 这是什么？")},
             12)};
  requests[1].sampling.temperature = 0.8f;  // seeded sampling too
  requests[1].sampling.seed = 11;
  for (const Request& messages : requests) {
    const Request tokens = AsTokens(messages);
    const Result expected = engine_->Generate(messages);
    const std::string what = engine_->RenderPrompt(messages);
    for (const Result& got :
         {engine_->Generate(tokens), engine_->NewSession()->Generate(tokens), Submitted(tokens)}) {
      EXPECT_EQ(got.prompt_ids, expected.prompt_ids) << what;
      EXPECT_EQ(got.tokens, expected.tokens) << what;
      EXPECT_EQ(got.text, expected.text) << what;
      EXPECT_EQ(got.prompt_tokens, expected.prompt_tokens) << what;
      EXPECT_EQ(got.finish_reason, expected.finish_reason) << what;
    }
  }
}

// With prompt_ids, the messages are not used.
TEST_F(TokenPromptTest, TheMessagesAreNotUsed) {
  const Request plain = AsTokens(Greedy({Message::Text("user", "Hello, who are you?")}, 6));
  Request with_messages = plain;
  with_messages.messages = {Message::Text("user", "Something else entirely.")};
  with_messages.system_prompt = "Ignored.";
  EXPECT_EQ(engine_->Generate(with_messages).tokens, engine_->Generate(plain).tokens);
}

// A session keeps its cache across token prompts (and between a message turn and a token turn):
// a prompt that extends the last one computes only what is new, and answers as a fresh run.
TEST_F(TokenPromptTest, ASessionReusesItsCacheAcrossTokenPrompts) {
  auto session = engine_->NewSession();
  const Request first = Greedy({Message::Text("user", "Hello, who are you?")}, 6);
  const Result a = session->Generate(first);
  Request second =
      Greedy({Message::Text("user", "Hello, who are you?"), Message::Text("assistant", a.text),
              Message::Text("user", "Tell me more.")},
             6);
  const Request second_tokens = AsTokens(second);
  const Result b = session->Generate(second_tokens);
  EXPECT_GT(b.cached_prompt_tokens, a.prompt_tokens / 2);
  EXPECT_EQ(b.tokens, engine_->Generate(second).tokens);
  // A token prompt that continues the cache exactly: the answer's own tokens, then more.
  Request third = second_tokens;
  third.prompt_ids->insert(third.prompt_ids->end(), b.tokens.begin(), b.tokens.end());
  const std::vector<TokenId> more = engine_->Tokenize("<|im_end|>\n<|im_start|>user\nAnd?");
  third.prompt_ids->insert(third.prompt_ids->end(), more.begin(), more.end());
  const Result c = session->Generate(third);
  EXPECT_GE(c.cached_prompt_tokens, b.prompt_tokens);
  EXPECT_EQ(c.tokens, engine_->Generate(third).tokens);
}

// Every malformed token prompt: Generate and Session::Generate throw, Submit's DoneCallback gets
// the Error before Submit returns; the message names prompt_ids and what is wrong; the engine and
// the session answer the next request as before.
TEST_F(TokenPromptTest, MalformedTokenPromptsAreRefused) {
  const Request good = AsTokens(Greedy({Message::Text("user", "Hello, who are you?")}, 6));
  auto session = engine_->NewSession();
  const Result before = session->Generate(good);
  const TokenId image_pad = engine_->Tokenize("<|image_pad|>").at(0);
  const TokenId video_pad = engine_->Tokenize("<|video_pad|>").at(0);
  const auto vocab = static_cast<TokenId>(engine_->vocab_size());
  struct Case {
    std::string name;
    std::vector<TokenId> ids;
    std::string says;  // in the message
  };
  std::vector<Case> cases = {
      {"empty", {}, "empty"},
      {"negative", {1, -1, 2}, "prompt_ids[1] = -1"},
      {"the first id past the vocabulary", {1, vocab}, "vocabulary"},
      {"an embedding row past the tokenizer's vocabulary", {151935}, "vocabulary"},
      {"the largest int", {INT_MAX}, "vocabulary"},
      {"the smallest int", {INT_MIN, 5}, "vocabulary"},
      {"an image pad", {1, 2, image_pad, 3}, "vision pad"},
      {"a video pad", {video_pad}, "vision pad"},
  };
  for (const Case& c : cases) {
    Request r = good;
    r.prompt_ids = c.ids;
    const auto check = [&](const Error& e, const std::string& via) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << c.name << " via " << via;
      EXPECT_NE(std::string(e.what()).find("prompt_ids"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.says), std::string::npos) << e.what();
    };
    try {
      engine_->Generate(r);
      ADD_FAILURE() << c.name << " accepted by Generate";
    } catch (const Error& e) {
      check(e, "Generate");
    }
    try {
      session->Generate(r);
      ADD_FAILURE() << c.name << " accepted by Session::Generate";
    } catch (const Error& e) {
      check(e, "Session::Generate");
    }
    bool called = false;
    engine_->Submit(r, nullptr, [&](const Result* result, const Error* e) {
      called = true;
      EXPECT_EQ(result, nullptr) << c.name;
      if (e != nullptr) check(*e, "Submit");
    });
    EXPECT_TRUE(called) << c.name << ": Submit did not refuse it before returning";
  }
  // Media with a token prompt: contradictory.
  Request with_media = good;
  Message user;
  user.role = "user";
  Media photo;
  photo.path = "photo.jpg";
  user.content.push_back({ContentPart::Type::kMedia, {}, photo});
  with_media.messages = {user};
  try {
    engine_->Generate(with_media);
    ADD_FAILURE() << "media with a token prompt accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("media"), std::string::npos) << e.what();
  }
  // Longer than the context: refused as a long template prompt is.
  Request too_long = good;
  too_long.prompt_ids = std::vector<TokenId>(600, 1);
  try {
    engine_->Generate(too_long);
    ADD_FAILURE() << "a prompt longer than the context accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
  }
  // Nothing disturbed: the session still extends its cache, the engine answers as before.
  const Result after = session->Generate(good);
  EXPECT_EQ(after.tokens, before.tokens);
  EXPECT_EQ(Submitted(good).tokens, before.tokens);
}

}  // namespace
}  // namespace qwenvl
