// SamplingParams::logprobs end to end on the tiny random checkpoint: every answer token's
// log-probabilities are those of the distribution it was drawn from, recomputed here from the
// model's logits (an independent model::Sequence run over the same prompt and answer) with the
// independent statement of the sampling rules (sampling_reference.h); the top alternatives are
// that distribution's most likely tokens, most likely first; asking for them changes no token; each
// reaches Request::on_token before its text is streamed; and out-of-range values are refused.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "compute/cpu_backend.h"
#include "io/test_checkpoint.h"
#include "model/qwen2_5_vl.h"
#include "qwenvl/engine.h"
#include "runtime/sampler.h"
#include "sampling_reference.h"
#include "util/thread_pool.h"

namespace qwenvl {
namespace {

namespace fs = std::filesystem;

class LogprobsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("qwenvl_logprobs_tiny_" + std::to_string(getpid())));
    io::WriteTestModel(io::GetTestModelPreset("tiny"), dir_->string(),
                       QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct");
    engine_ = Engine::Load(Options()).release();
  }
  static void TearDownTestSuite() {
    delete engine_;
    fs::remove_all(*dir_);
    delete dir_;
  }
  static EngineOptions Options() {
    EngineOptions o;
    o.model_dir = dir_->string();
    o.threads = 2;
    o.kernels = "f32";  // as the independent run below: the same logits
    o.context_length = 512;
    o.max_parallel = 4;
    return o;
  }
  // Every sampling setting given, so that generation_config.json's defaults play no part.
  static Request Ask(const std::string& text, int64_t max_tokens, int logprobs) {
    Request r;
    r.messages.push_back(Message::Text("user", text));
    r.sampling.temperature = 0.0f;
    r.sampling.top_k = 0;
    r.sampling.top_p = 1.0f;
    r.sampling.min_p = 0.0f;
    r.sampling.repetition_penalty = 1.0f;
    r.sampling.max_new_tokens = max_tokens;
    r.sampling.logprobs = logprobs;
    return r;
  }
  static fs::path* dir_;
  static Engine* engine_;
};
fs::path* LogprobsTest::dir_ = nullptr;
Engine* LogprobsTest::engine_ = nullptr;

runtime::SamplerConfig ConfigOf(const SamplingParams& p) {
  runtime::SamplerConfig c;
  c.greedy = *p.temperature <= 1e-5f;
  c.temperature = *p.temperature;
  c.top_k = *p.top_k;
  c.top_p = *p.top_p;
  c.min_p = *p.min_p;
  c.repetition_penalty = *p.repetition_penalty;
  c.presence_penalty = p.presence_penalty;
  c.frequency_penalty = p.frequency_penalty;
  return c;
}

// Checks r.logprobs against the distributions recomputed from the model's own logits.
void CheckAgainstTheModel(const Engine& engine, const Request& request, const Result& r) {
  static ThreadPool pool(2);
  static compute::CpuBackend backend(pool, {.spec = "f32", .cache_path = "none"});
  const model::Model model(engine.options().model_dir, backend);
  model::Sequence sequence(model, 512);
  sequence.Append({.input_ids = r.prompt_ids}, {});
  const runtime::SamplerConfig config = ConfigOf(request.sampling);
  const auto top_n = static_cast<size_t>(request.sampling.logprobs);
  ASSERT_EQ(r.logprobs.size(), r.tokens.size());
  std::vector<TokenId> generated;
  for (size_t k = 0; k < r.tokens.size(); ++k) {
    const std::string where = "token " + std::to_string(k) + " of " + r.text;
    const TokenLogprob& got = r.logprobs[k];
    const std::span<const float> logits = sequence.logits();
    const std::vector<double> ref = runtime::testing::ReferenceLogprobs(
        runtime::testing::Penalised({logits.begin(), logits.end()}, config, r.prompt_ids,
                                    generated),
        config);
    EXPECT_EQ(got.token, r.tokens[k]) << where;
    EXPECT_EQ(got.text, engine.TokenBytes(got.token)) << where;
    ASSERT_TRUE(std::isfinite(ref[static_cast<size_t>(got.token)]))
        << "the token lies outside the distribution " << where;
    EXPECT_NEAR(got.logprob, ref[static_cast<size_t>(got.token)], 2e-4) << where;
    // The distribution's most likely tokens, most likely first.
    std::vector<size_t> order;
    for (size_t i = 0; i < ref.size(); ++i)
      if (std::isfinite(ref[i])) order.push_back(i);
    std::partial_sort(order.begin(), order.begin() + std::min(order.size(), top_n), order.end(),
                      [&](size_t a, size_t b) { return ref[a] > ref[b]; });
    ASSERT_EQ(got.top.size(), std::min(order.size(), top_n)) << where;
    double mass = 0;
    for (size_t i = 0; i < got.top.size(); ++i) {
      const TokenLogprob& alt = got.top[i];
      EXPECT_NEAR(alt.logprob, ref[static_cast<size_t>(alt.token)], 2e-4) << where;
      EXPECT_NEAR(ref[order[i]], ref[static_cast<size_t>(alt.token)], 2e-4) << where;
      if (i > 0) {
        EXPECT_GE(got.top[i - 1].logprob, alt.logprob) << "not sorted, " << where;
      }
      EXPECT_EQ(alt.text, engine.TokenBytes(alt.token)) << where;
      EXPECT_TRUE(alt.top.empty()) << where;
      mass += std::exp(static_cast<double>(alt.logprob));
    }
    EXPECT_LE(mass, 1.0 + 1e-4) << where;
    double all = 0;
    for (double x : ref) all += std::exp(x);
    EXPECT_NEAR(all, 1.0, 1e-6) << where;
    if (config.greedy && top_n > 0) {
      EXPECT_EQ(got.top[0].token, got.token) << "the greedy token is the most likely, " << where;
      EXPECT_EQ(got.top[0].logprob, got.logprob) << where;
    }
    generated.push_back(r.tokens[k]);
    sequence.Step(r.tokens[k]);
  }
}

TEST_F(LogprobsTest, GreedyLogprobsAreTheModelsSoftmax) {
  const Request r = Ask("Hello, who are you?", 10, 5);
  const Result result = engine_->Generate(r);
  ASSERT_EQ(result.completion_tokens, 10);
  CheckAgainstTheModel(*engine_, r, result);
}

TEST_F(LogprobsTest, GreedyLogprobsSeeThePenalties) {
  Request r = Ask("Hello, who are you?", 10, 20);
  r.sampling.repetition_penalty = 1.4f;
  r.sampling.presence_penalty = 0.6f;
  r.sampling.frequency_penalty = 0.3f;
  const Result result = engine_->Generate(r);
  CheckAgainstTheModel(*engine_, r, result);
}

TEST_F(LogprobsTest, SampledLogprobsAreTheFilteredDistribution) {
  struct Setting {
    float temperature;
    int top_k;
    float top_p, min_p;
  };
  // The tiny random model's distribution is wide: top-p keeps many tokens, top-k few.
  for (const Setting& s :
       {Setting{0.9f, 0, 1.0f, 0.0f}, Setting{0.7f, 40, 1.0f, 0.0f}, Setting{1.3f, 0, 0.5f, 0.0f},
        Setting{0.5f, 300, 0.8f, 0.5f}, Setting{1.0f, 5, 1.0f, 0.0f}}) {
    Request r = Ask("Tell me a story about a fox.", 8, 7);
    r.sampling.temperature = s.temperature;
    r.sampling.top_k = s.top_k;
    r.sampling.top_p = s.top_p;
    r.sampling.min_p = s.min_p;
    r.sampling.repetition_penalty = 1.1f;
    r.sampling.seed = 77;
    const Result result = engine_->Generate(r);
    SCOPED_TRACE("temperature " + std::to_string(s.temperature) + " top_k " +
                 std::to_string(s.top_k) + " top_p " + std::to_string(s.top_p) + " min_p " +
                 std::to_string(s.min_p));
    CheckAgainstTheModel(*engine_, r, result);
    if (s.top_k == 5) {
      for (const TokenLogprob& t : result.logprobs) EXPECT_EQ(t.top.size(), 5u);
    }
  }
}

// Asking for log-probabilities changes no token: greedy, and sampled with a seed.
TEST_F(LogprobsTest, LogprobsChangeNoToken) {
  for (float temperature : {0.0f, 0.8f}) {
    Request off = Ask("Write a haiku.", 12, -1);
    off.sampling.temperature = temperature;
    off.sampling.top_k = 50;
    off.sampling.seed = 5;
    Request on = off;
    on.sampling.logprobs = 3;
    const Result a = engine_->Generate(off), b = engine_->Generate(on);
    EXPECT_EQ(a.tokens, b.tokens) << temperature;
    EXPECT_EQ(a.text, b.text) << temperature;
    EXPECT_TRUE(a.logprobs.empty());
    EXPECT_EQ(b.logprobs.size(), b.tokens.size());
  }
  const Result none = engine_->Generate(Ask("Write a haiku.", 4, 0));
  ASSERT_EQ(none.logprobs.size(), 4u);
  for (const TokenLogprob& t : none.logprobs) EXPECT_TRUE(t.top.empty());
}

// on_token gets each entry of Result::logprobs, in order, before any of that token's text is
// streamed: the text streamed by then is at most what the tokens before it spell.
TEST_F(LogprobsTest, OnTokenComesBeforeTheTokensText) {
  Request r = Ask("Hello, who are you?", 16, 2);
  std::string streamed;
  std::vector<TokenLogprob> seen;
  std::vector<std::string> streamed_before;
  r.on_token = [&](const TokenLogprob& t) {
    seen.push_back(t);
    streamed_before.push_back(streamed);
  };
  const Result result = engine_->Generate(r, [&](std::string_view piece) {
    streamed += piece;
    return true;
  });
  ASSERT_EQ(seen.size(), result.tokens.size());
  for (size_t k = 0; k < seen.size(); ++k) {
    EXPECT_EQ(seen[k].token, result.logprobs[k].token);
    EXPECT_EQ(seen[k].logprob, result.logprobs[k].logprob);
    EXPECT_EQ(seen[k].top.size(), 2u);
    const std::string before = engine_->Detokenize(
        std::vector<TokenId>(result.tokens.begin(), result.tokens.begin() + k), true);
    EXPECT_EQ(before.compare(0, streamed_before[k].size(), streamed_before[k]), 0)
        << "streamed \"" << streamed_before[k] << "\" before token " << k << ", the tokens "
        << "before it spell \"" << before << "\"";
  }
  EXPECT_EQ(streamed, result.text);
  // Without logprobs, no call.
  Request off = Ask("Hello, who are you?", 4, -1);
  int calls = 0;
  off.on_token = [&](const TokenLogprob&) { ++calls; };
  engine_->Generate(off);
  EXPECT_EQ(calls, 0);
}

// Submitted requests (batched decode steps, several at once) give the log-probabilities that
// Generate gives alone.
TEST_F(LogprobsTest, SubmittedRequestsGiveTheSameLogprobs) {
  std::vector<Request> requests;
  for (int i = 0; i < 5; ++i) {
    Request r = Ask("Question " + std::to_string(i % 3) + ": why?", 6 + i, 4);
    if (i % 2 == 1) {
      r.sampling.temperature = 0.9f;
      r.sampling.top_k = 30;
      r.sampling.seed = static_cast<uint64_t>(i);
    }
    requests.push_back(r);
  }
  std::vector<Result> alone;
  for (const Request& r : requests) alone.push_back(engine_->Generate(r));
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::optional<Result>> got(requests.size());
  std::vector<int> token_calls(requests.size(), 0);
  size_t done = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    Request r = requests[i];
    r.on_token = [&, i](const TokenLogprob&) { ++token_calls[i]; };  // the scheduler thread only
    engine_->Submit(r, nullptr, [&, i](const Result* result, const Error* e) {
      std::lock_guard<std::mutex> lock(mu);
      EXPECT_EQ(e, nullptr) << (e != nullptr ? e->what() : "");
      if (result != nullptr) got[i] = *result;
      ++done;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(
      cv.wait_for(lock, std::chrono::seconds(120), [&] { return done == requests.size(); }));
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(got[i].has_value()) << i;
    EXPECT_EQ(got[i]->tokens, alone[i].tokens) << i;
    ASSERT_EQ(got[i]->logprobs.size(), alone[i].logprobs.size()) << i;
    EXPECT_EQ(token_calls[i], static_cast<int>(alone[i].logprobs.size())) << i;
    for (size_t k = 0; k < alone[i].logprobs.size(); ++k) {
      const TokenLogprob &a = got[i]->logprobs[k], &b = alone[i].logprobs[k];
      EXPECT_NEAR(a.logprob, b.logprob, 1e-4) << i << " token " << k;
      ASSERT_EQ(a.top.size(), b.top.size()) << i;
      for (size_t j = 0; j < a.top.size(); ++j)
        EXPECT_NEAR(a.top[j].logprob, b.top[j].logprob, 1e-4) << i << " token " << k;
    }
  }
}

// Out of range: refused by Generate (throws) and by Submit (the DoneCallback gets the Error before
// Submit returns), naming the field; the engine answers the next request as before.
TEST_F(LogprobsTest, OutOfRangeLogprobsAreRefused) {
  const Result before = engine_->Generate(Ask("Hello", 4, -1));
  for (int bad : {-2, 21, 1000, -1000000}) {
    try {
      engine_->Generate(Ask("Hello", 4, bad));
      ADD_FAILURE() << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << bad;
      EXPECT_NE(std::string(e.what()).find("logprobs"), std::string::npos) << e.what();
    }
    bool refused = false;
    engine_->Submit(Ask("Hello", 4, bad), nullptr, [&](const Result* r, const Error* e) {
      refused = r == nullptr && e != nullptr && e->code() == ErrorCode::kInvalidArgument &&
                std::string(e->what()).find("logprobs") != std::string::npos;
    });
    EXPECT_TRUE(refused) << bad;
  }
  EXPECT_EQ(engine_->Generate(Ask("Hello", 4, -1)).tokens, before.tokens);
  EXPECT_EQ(engine_->Generate(Ask("Hello", 4, 20)).logprobs.at(0).top.size(), 20u);
}

}  // namespace
}  // namespace qwenvl
