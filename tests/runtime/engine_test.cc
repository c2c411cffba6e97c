// End-to-end tests of the Engine on the tiny random checkpoint: template, tokenizer, model,
// sampler, KV-cache reuse across turns, limits, streaming and the scheduler.
#include "qwenvl/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "io/test_checkpoint.h"
#include "util/mapped_file.h"

namespace qwenvl {
namespace {

namespace fs = std::filesystem;

class EngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("qwenvl_engine_tiny_" + std::to_string(getpid())));
    io::WriteTestModel(io::GetTestModelPreset("tiny"), dir_->string(),
                       QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct");
    EngineOptions o;
    o.model_dir = dir_->string();
    o.threads = 2;
    o.context_length = 512;
    engine_ = Engine::Load(o).release();
  }
  static void TearDownTestSuite() {
    delete engine_;
    fs::remove_all(*dir_);
    delete dir_;
  }
  static Request Greedy(const std::string& text, int64_t max_tokens) {
    Request r;
    r.messages.push_back(Message::Text("user", text));
    r.sampling.temperature = 0.0f;
    r.sampling.repetition_penalty = 1.0f;  // the fixtures are plain argmax
    r.sampling.max_new_tokens = max_tokens;
    return r;
  }
  static fs::path* dir_;
  static Engine* engine_;
};
fs::path* EngineTest::dir_ = nullptr;
Engine* EngineTest::engine_ = nullptr;

nlohmann::json Case(const std::string& name) {
  return nlohmann::json::parse(ReadFileToString(QWENVL_TEST_DATA "/model/" + name + ".json"));
}

TEST_F(EngineTest, TextPromptMatchesTheReferenceIdsAndGreedyTokens) {
  const nlohmann::json c = Case("tiny.text");
  const Result r = engine_->Generate(Greedy("Hello, who are you?", 24));
  EXPECT_EQ(r.prompt_ids, c["input_ids"].get<std::vector<TokenId>>());
  const auto expected = c["greedy_ids"].get<std::vector<TokenId>>();
  EXPECT_EQ(r.tokens, expected);
  EXPECT_EQ(r.finish_reason, FinishReason::kLength);
  EXPECT_EQ(r.completion_tokens, 24);
}

// The same request on an engine over the reference backend (scalar kernels) gives the reference
// ids too; an unknown backend is refused at load, naming the known ones.
TEST_F(EngineTest, ReferenceBackendGivesTheSameAnswer) {
  const nlohmann::json c = Case("tiny.text");
  EngineOptions o = engine_->options();
  o.backend = "reference";
  const std::unique_ptr<Engine> reference = Engine::Load(o);
  const Result r = reference->Generate(Greedy("Hello, who are you?", 24));
  EXPECT_EQ(r.tokens, c["greedy_ids"].get<std::vector<TokenId>>());
  o.backend = "gpu";
  try {
    Engine::Load(o);
    ADD_FAILURE() << "an unknown backend loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("reference"), std::string::npos) << e.what();
  }
}

// ClearCaches forgets prepared media and encodings; the answer stays the same.
TEST_F(EngineTest, ClearCachesKeepsAnswers) {
  const Result before = engine_->Generate(Greedy("Hello, who are you?", 8));
  engine_->ClearCaches();
  const Result after = engine_->Generate(Greedy("Hello, who are you?", 8));
  EXPECT_EQ(before.tokens, after.tokens);
}

TEST_F(EngineTest, StreamedPiecesMakeTheAnswer) {
  std::string streamed;
  int pieces = 0;
  const Result r = engine_->Generate(Greedy("Hello, who are you?", 12), [&](std::string_view t) {
    streamed += t;
    ++pieces;
    return true;
  });
  EXPECT_EQ(streamed, r.text);
  EXPECT_GT(pieces, 1);
}

TEST_F(EngineTest, StopStringEndsTheAnswerBeforeIt) {
  const Result full = engine_->Generate(Greedy("Hello, who are you?", 24));
  ASSERT_GT(full.text.size(), 6u);
  Request r = Greedy("Hello, who are you?", 24);
  const std::string stop = full.text.substr(4, 3);
  r.sampling.stop = {stop};
  const Result cut = engine_->Generate(r);
  EXPECT_EQ(cut.finish_reason, FinishReason::kStop);
  EXPECT_EQ(cut.text, full.text.substr(0, full.text.find(stop)));
}

TEST_F(EngineTest, CancelFromTheCallbackStops) {
  int calls = 0;
  const Result r = engine_->Generate(Greedy("Hello, who are you?", 24),
                                     [&](std::string_view) { return ++calls < 3; });
  EXPECT_EQ(r.finish_reason, FinishReason::kCancelled);
  EXPECT_LT(r.completion_tokens, 24);
}

TEST_F(EngineTest, PromptOverTheContextIsAnErrorBeforeAnyWork) {
  std::string long_text;
  for (int i = 0; i < 400; ++i) long_text += "many words here ";
  try {
    engine_->Generate(Greedy(long_text, 4));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
    EXPECT_NE(std::string(e.what()).find("context"), std::string::npos) << e.what();
  }
}

TEST_F(EngineTest, SecondTurnReusesTheCacheAndMatchesAFreshRun) {
  auto session = engine_->NewSession();
  Request first = Greedy("Hello, who are you?", 6);
  const Result a = session->Generate(first);
  Request second = first;
  second.messages.push_back(Message::Text("assistant", a.text));
  second.messages.push_back(Message::Text("user", "Tell me more."));
  const Result b = session->Generate(second);
  EXPECT_GT(b.cached_prompt_tokens, 0);
  const Result fresh = engine_->Generate(second);
  EXPECT_EQ(fresh.cached_prompt_tokens, 0);
  EXPECT_EQ(b.prompt_ids, fresh.prompt_ids);
  EXPECT_EQ(b.tokens, fresh.tokens);
}

TEST_F(EngineTest, SubmittedRequestsMatchSynchronousOnes) {
  const std::vector<std::string> prompts = {"Hello, who are you?", "What is 2+2?", "Name a colour.",
                                            "Write a haiku."};
  std::vector<Result> expected;
  for (const auto& p : prompts) expected.push_back(engine_->Generate(Greedy(p, 10)));
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::optional<Result>> got(prompts.size());
  size_t done = 0;
  for (size_t i = 0; i < prompts.size(); ++i)
    engine_->Submit(Greedy(prompts[i], 10), nullptr, [&, i](const Result* r, const Error* e) {
      std::lock_guard<std::mutex> lock(mu);
      ASSERT_EQ(e, nullptr);
      got[i] = *r;
      ++done;
      cv.notify_all();
    });
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done == prompts.size(); }));
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(got[i]->tokens, expected[i].tokens) << i;
}

// More requests than max_parallel: they queue, join the batched decode steps as others finish
// (different lengths, so the batch changes every few steps) and still give exactly the tokens of
// synchronous runs, sampled ones included.
TEST_F(EngineTest, MoreSubmittedRequestsThanParallelSlotsMatchSynchronousOnes) {
  EngineOptions o;
  o.model_dir = dir_->string();
  o.threads = 2;
  o.context_length = 512;
  o.max_parallel = 3;
  std::unique_ptr<Engine> engine = Engine::Load(o);
  std::vector<Request> requests;
  for (int i = 0; i < 8; ++i)
    requests.push_back(Greedy("Question number " + std::to_string(i) + ": why?", 3 + 2 * i));
  requests[5].sampling.temperature = 0.8f;
  requests[5].sampling.seed = 99;
  std::vector<Result> expected;
  for (const Request& r : requests) expected.push_back(engine->Generate(r));
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::optional<Result>> got(requests.size());
  size_t done = 0;
  for (size_t i = 0; i < requests.size(); ++i)
    engine->Submit(requests[i], nullptr, [&, i](const Result* r, const Error* e) {
      std::lock_guard<std::mutex> lock(mu);
      EXPECT_EQ(e, nullptr) << (e != nullptr ? e->what() : "");
      if (r != nullptr) got[i] = *r;
      ++done;
      cv.notify_all();
    });
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done == requests.size(); }));
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(got[i].has_value()) << i;
    EXPECT_EQ(got[i]->tokens, expected[i].tokens) << i;
    EXPECT_EQ(got[i]->text, expected[i].text) << i;
    EXPECT_EQ(got[i]->finish_reason, expected[i].finish_reason) << i;
  }
}

TEST_F(EngineTest, SubmittedBadRequestGetsAnErrorAndOthersGoOn) {
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  bool bad_failed = false, good_ok = false;
  Request bad = Greedy("x", 4);
  bad.messages[0].role = "robot";
  engine_->Submit(bad, nullptr, [&](const Result*, const Error* e) {
    std::lock_guard<std::mutex> lock(mu);
    bad_failed = e != nullptr && e->code() == ErrorCode::kInvalidArgument;
    ++done;
    cv.notify_all();
  });
  engine_->Submit(Greedy("Hello", 4), nullptr, [&](const Result* r, const Error*) {
    std::lock_guard<std::mutex> lock(mu);
    good_ok = r != nullptr && r->completion_tokens == 4;
    ++done;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done == 2; }));
  EXPECT_TRUE(bad_failed);
  EXPECT_TRUE(good_ok);
}

TEST_F(EngineTest, SeededSamplingIsReproducible) {
  Request r = Greedy("Hello, who are you?", 12);
  r.sampling.temperature = 1.0f;
  r.sampling.top_k = 50;
  r.sampling.top_p = 0.9f;
  r.sampling.seed = 1234;
  EXPECT_EQ(engine_->Generate(r).tokens, engine_->Generate(r).tokens);
}

}  // namespace
}  // namespace qwenvl
