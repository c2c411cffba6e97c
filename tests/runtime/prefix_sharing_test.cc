// Prefix sharing between submitted requests, on the tiny random checkpoint: a request starts from
// the longest prefix any of the scheduler's sequences holds, copying another sequence's rows (or
// waiting for a prefill in progress) rather than computing them. Differential, as every test of a
// cache: whatever was shared, copied or waited for, each answer must be the one that a fresh
// engine gives to the same request alone. n identical requests submitted together (greedy, and
// sampled with a seed each, with log-probabilities) prefill their prompt once; random requests
// sharing random prefixes (pictures and token prompts among them) in random orders; a request
// cancelled during a prefill that others wait for, and one that fails there, leave the others'
// answers exact.
//
// QWENVL_SHARING_SEED=N replays the random requests of seed N (printed at the start of each test).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "io/test_checkpoint.h"
#include "media/draw.h"
#include "qwenvl/engine.h"

namespace qwenvl {
namespace {

namespace fs = std::filesystem;
using Rng = std::mt19937_64;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kScale = 1;  // the kernels and the sampler run ~9x slower there
#else
constexpr int kScale = 5;
#endif
constexpr auto kWaitLimit = std::chrono::seconds(300);

int64_t Pick(Rng& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}
bool Chance(Rng& rng, double p) { return std::bernoulli_distribution(p)(rng); }

uint64_t RunSeed() {
  const char* v = std::getenv("QWENVL_SHARING_SEED");
  static const uint64_t seed = v != nullptr && *v != '\0'
                                   ? std::strtoull(v, nullptr, 10)
                                   : static_cast<uint64_t>(std::random_device{}() & 0x7fffffff);
  return seed;
}

// One line per request: the memo key of reference answers and the failure messages.
std::string Describe(const Request& r) {
  const SamplingParams& s = r.sampling;
  std::string d = "max_new_tokens=" + std::to_string(s.max_new_tokens) +
                  " temperature=" + std::to_string(s.temperature.value_or(-1)) +
                  " top_k=" + std::to_string(s.top_k.value_or(-1)) +
                  " top_p=" + std::to_string(s.top_p.value_or(-1)) +
                  " seed=" + std::to_string(s.seed.value_or(0)) +
                  " logprobs=" + std::to_string(s.logprobs);
  if (r.system_prompt) d += " system=\"" + *r.system_prompt + "\"";
  if (r.prompt_ids) {
    d += " ids:";
    for (TokenId id : *r.prompt_ids) d += " " + std::to_string(id);
    return d;
  }
  for (const Message& m : r.messages) {
    d += " | " + m.role + ":";
    for (const ContentPart& p : m.content)
      d += p.type == ContentPart::Type::kText
               ? " \"" + p.text + "\""
               : " <" + fs::path(p.media.path).filename().string() +
                     " max=" + std::to_string(p.media.max_pixels.value_or(0)) + ">";
  }
  return d;
}

media::RgbImage RandomPicture(Rng& rng, int width, int height) {
  media::RgbImage img;
  img.width = width;
  img.height = height;
  img.pixels.resize(static_cast<size_t>(width) * height * 3);
  for (int block = 0; block < 8; ++block) {
    const int x0 = static_cast<int>(Pick(rng, 0, width - 1)),
              y0 = static_cast<int>(Pick(rng, 0, height - 1));
    const int x1 = static_cast<int>(Pick(rng, x0, width - 1)),
              y1 = static_cast<int>(Pick(rng, y0, height - 1));
    const auto c = static_cast<uint8_t>(Pick(rng, 0, 255));
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x)
        for (int k = 0; k < 3; ++k)
          img.pixels[(static_cast<size_t>(y) * width + x) * 3 + k] = static_cast<uint8_t>(c + k);
  }
  return img;
}

// Requests submitted together; the callbacks record the outcomes.
struct Batch {
  struct Item {
    Request request;
    std::shared_ptr<RequestHandle> handle;
    std::optional<Result> result;
    std::string error;
    bool done = false;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Item> items;
  size_t done = 0;
};

void SubmitAll(Engine& engine, const std::shared_ptr<Batch>& batch) {
  for (size_t i = 0; i < batch->items.size(); ++i) {
    auto handle = engine.Submit(batch->items[i].request, nullptr,
                                [batch, i](const Result* r, const Error* e) {
                                  std::lock_guard<std::mutex> lock(batch->mu);
                                  Batch::Item& item = batch->items[i];
                                  if (r != nullptr) item.result = *r;
                                  if (e != nullptr) item.error = e->what();
                                  if (item.done) item.error = "done twice";
                                  item.done = true;
                                  ++batch->done;
                                  batch->cv.notify_all();
                                });
    std::lock_guard<std::mutex> lock(batch->mu);
    batch->items[i].handle = std::move(handle);
  }
}

bool WaitAll(Batch& batch) {
  std::unique_lock<std::mutex> lock(batch.mu);
  return batch.cv.wait_for(lock, kWaitLimit, [&] { return batch.done == batch.items.size(); });
}

class PrefixSharingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("qwenvl_prefix_sharing_" + std::to_string(getpid())));
    fs::create_directories(*dir_);
    io::WriteTestModel(io::GetTestModelPreset("tiny"), (*dir_ / "model").string(),
                       QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct");
    pictures_ = new std::vector<std::string>();
    Rng rng(20261207);  // fixed pictures: a seed replays the same requests
    const int sizes[][2] = {{40, 30}, {64, 64}, {90, 33}};
    for (const auto& wh : sizes) {
      pictures_->push_back(
          (*dir_ / ("picture" + std::to_string(pictures_->size()) + ".png")).string());
      media::WritePng(pictures_->back(), RandomPicture(rng, wh[0], wh[1]));
    }
    references_ = new std::map<std::string, Result>();
    reference_engine_ = Engine::Load(Options(1, 128)).release();
  }
  static void TearDownTestSuite() {
    delete reference_engine_;
    delete references_;
    delete pictures_;
    fs::remove_all(*dir_);
    delete dir_;
  }
  static EngineOptions Options(int max_parallel, int64_t chunk) {
    EngineOptions o;
    o.model_dir = (*dir_ / "model").string();
    o.threads = 2;
    // Exact float32 products: the bf16-rounding kernels (amx-bf16, bf16-dot) that "auto" picks on
    // some CPUs give a row other low bits in a piece of fewer than 8 rows (GEMV) than in a larger
    // one, so a reused prefix, which leaves a short piece to compute, could flip a near tie of
    // the random model; what these tests compare is what the engine keeps, not the kernels.
    o.kernels = "f32";
    o.context_length = 1024;
    o.max_parallel = max_parallel;
    o.prefill_chunk_tokens = chunk;
    return o;
  }
  // The answer of an engine with nothing cached (the reference engine forgets its media caches;
  // Generate runs on a new sequence), once per distinct request.
  static const Result& Reference(const Request& r) {
    const std::string key = Describe(r);
    auto it = references_->find(key);
    if (it != references_->end()) return it->second;
    reference_engine_->ClearCaches();
    Result result;
    try {
      result = reference_engine_->Generate(r);
    } catch (const Error& e) {
      ADD_FAILURE() << "the reference engine failed: " << e.what() << "\n  " << key;
    }
    return references_->emplace(key, std::move(result)).first->second;
  }

  // A random conversation made of shared pieces, so that requests share prefixes of every length:
  // a system prompt or none, a first question (after a picture or not), and maybe an answer and a
  // second question.
  static Request RandomConversation(Rng& rng) {
    static const std::vector<std::string> systems = {
        "You are a helpful assistant.",
        "You answer questions about pictures. Be careful and precise, and describe the colours, "
        "the shapes and their positions before you answer anything else."};
    static const std::vector<std::string> first = {
        "What is in this picture?", "Describe it.",
        "Please write a long and careful description of every single detail you can find here, "
        "including the colours, the positions, the sizes and anything unusual about the scene."};
    static const std::vector<std::string> answers = {"A red square.", "Two shapes, both blue."};
    static const std::vector<std::string> second = {"Why?", "Tell me more.", "And the other one?"};
    Request r;
    const int64_t sys = Pick(rng, 0, 2);
    if (sys < 2) r.system_prompt = systems[static_cast<size_t>(sys)];
    Message user;
    user.role = "user";
    if (Chance(rng, 0.5)) {
      Media m;
      m.path = (*pictures_)[static_cast<size_t>(Pick(rng, 0, pictures_->size() - 1))];
      m.max_pixels = Chance(rng, 0.7) ? 3136 : 6272;
      user.content.push_back({ContentPart::Type::kMedia, {}, m});
    }
    user.content.push_back(
        {ContentPart::Type::kText, first[static_cast<size_t>(Pick(rng, 0, 2))], {}});
    r.messages.push_back(user);
    if (Chance(rng, 0.5)) {
      r.messages.push_back(
          Message::Text("assistant", answers[static_cast<size_t>(Pick(rng, 0, 1))]));
      r.messages.push_back(Message::Text("user", second[static_cast<size_t>(Pick(rng, 0, 2))]));
    }
    r.sampling.temperature = 0.0f;
    r.sampling.repetition_penalty = 1.0f;
    r.sampling.max_new_tokens = Pick(rng, 3, 8);
    return r;
  }
  // The same request as a token prompt (text only: a token prompt carries no picture).
  static Request AsTokens(const Request& r) {
    Request t = r;
    t.prompt_ids = reference_engine_->Tokenize(reference_engine_->RenderPrompt(r));
    t.messages.clear();
    t.system_prompt.reset();
    return t;
  }

  static fs::path* dir_;
  static std::vector<std::string>* pictures_;
  static std::map<std::string, Result>* references_;
  static Engine* reference_engine_;
};
fs::path* PrefixSharingTest::dir_ = nullptr;
std::vector<std::string>* PrefixSharingTest::pictures_ = nullptr;
std::map<std::string, Result>* PrefixSharingTest::references_ = nullptr;
Engine* PrefixSharingTest::reference_engine_ = nullptr;

bool HasMedia(const Request& r) {
  for (const Message& m : r.messages)
    for (const ContentPart& p : m.content)
      if (p.type == ContentPart::Type::kMedia) return true;
  return false;
}

// The submitted answer is the fresh one: tokens, text, prompt, and log-probabilities (within the
// float32 sums' order: a shared prefix is not computed in the same pieces).
void ExpectFreshAnswer(const Batch::Item& item, const Result& reference, const std::string& what) {
  ASSERT_TRUE(item.error.empty()) << item.error << "\n  " << what;
  ASSERT_TRUE(item.result.has_value()) << what;
  const Result& r = *item.result;
  EXPECT_EQ(r.tokens, reference.tokens) << what;
  EXPECT_EQ(r.text, reference.text) << what;
  EXPECT_EQ(r.finish_reason, reference.finish_reason) << what;
  EXPECT_EQ(r.prompt_ids, reference.prompt_ids) << what;
  EXPECT_GE(r.cached_prompt_tokens, 0) << what;
  EXPECT_LT(r.cached_prompt_tokens, r.prompt_tokens)
      << "the last prompt token is computed\n  " << what;
  ASSERT_EQ(r.logprobs.size(), reference.logprobs.size()) << what;
  for (size_t k = 0; k < r.logprobs.size(); ++k) {
    EXPECT_NEAR(r.logprobs[k].logprob, reference.logprobs[k].logprob, 1e-4) << what;
    ASSERT_EQ(r.logprobs[k].top.size(), reference.logprobs[k].top.size()) << what;
  }
}

// n identical requests (differing at most in their seed) submitted together, as the server's n > 1
// submits them: each answer is the fresh one, and the prompt is prefilled once: all but one report
// every prompt token but the last as cached (copied from the one that computed it).
TEST_F(PrefixSharingTest, IdenticalRequestsPrefillTheirPromptOnce) {
  const uint64_t seed = RunSeed();
  std::printf("[ prefix sharing ] seed %llu (QWENVL_SHARING_SEED replays)\n",
              static_cast<unsigned long long>(seed));
  Rng rng(seed);
  int trials = 0, sampled = 0, with_media = 0;
  for (const int parallel : {4, 3}) {
    const auto engine = Engine::Load(Options(parallel, parallel == 4 ? 16 : 128));
    for (int trial = 0; trial < 4 * kScale && !HasFailure(); ++trial) {
      Request base = RandomConversation(rng);
      if (Chance(rng, 0.3)) base.sampling.logprobs = static_cast<int>(Pick(rng, 0, 5));
      const bool sample = Chance(rng, 0.5);
      const auto n = static_cast<size_t>(Pick(rng, 2, parallel + 2));  // some wait for a slot
      auto batch = std::make_shared<Batch>();
      for (size_t i = 0; i < n; ++i) {
        Request r = base;
        if (sample) {
          r.sampling.temperature = 0.9f;
          r.sampling.top_k = 40;
          r.sampling.seed = Pick(rng, 1, 1000000);
        }
        Reference(r);
        batch->items.push_back({r, nullptr, std::nullopt, "", false});
      }
      const std::string where = "parallel " + std::to_string(parallel) + ", seed " +
                                std::to_string(seed) + ", trial " + std::to_string(trial) + ", " +
                                std::to_string(n) + " copies of " + Describe(base);
      SubmitAll(*engine, batch);
      ASSERT_TRUE(WaitAll(*batch)) << "hangs: " << where;
      size_t whole_prefix = 0;
      for (size_t i = 0; i < n; ++i) {
        const Batch::Item& item = batch->items[i];
        ExpectFreshAnswer(item, Reference(item.request),
                          where + ", copy " + std::to_string(i) + Describe(item.request));
        if (item.result && item.result->cached_prompt_tokens == item.result->prompt_tokens - 1)
          ++whole_prefix;
      }
      EXPECT_GE(whole_prefix, n - 1) << "the prompt was computed more than once: " << where;
      ++trials;
      sampled += sample;
      with_media += HasMedia(base);
    }
  }
  std::printf("[ prefix sharing ] %d groups of identical requests (%d sampled, %d with pictures)\n",
              trials, sampled, with_media);
}

// Random requests that share random prefixes (pictures and token prompts among them), submitted
// in random groups and orders to long-lived engines: every answer is the fresh one.
TEST_F(PrefixSharingTest, RequestsSharingRandomPrefixesGiveTheFreshAnswers) {
  const uint64_t seed = RunSeed();
  std::printf("[ prefix sharing ] seed %llu (QWENVL_SHARING_SEED replays)\n",
              static_cast<unsigned long long>(seed));
  Rng rng(seed + 1);
  int requests = 0, reused = 0, token_prompts = 0;
  for (const int parallel : {4, 2}) {
    const auto engine = Engine::Load(Options(parallel, parallel == 4 ? 8 : 32));
    for (int round = 0; round < 6 * kScale && !HasFailure(); ++round) {
      auto batch = std::make_shared<Batch>();
      const int64_t size = Pick(rng, 2, 7);
      for (int64_t i = 0; i < size; ++i) {
        const bool repeat = !batch->items.empty() && Chance(rng, 0.2);
        Request r = repeat ? batch->items.back().request : RandomConversation(rng);
        if (!repeat && !HasMedia(r) && Chance(rng, 0.3)) {
          r = AsTokens(r);
          ++token_prompts;
        }
        if (Chance(rng, 0.25)) {
          r.sampling.temperature = 0.8f;
          r.sampling.top_p = 0.9f;
          r.sampling.seed = Pick(rng, 1, 1000);
        }
        Reference(r);
        batch->items.push_back({r, nullptr, std::nullopt, "", false});
      }
      std::shuffle(batch->items.begin(), batch->items.end(), rng);
      std::string where = "parallel " + std::to_string(parallel) + ", seed " +
                          std::to_string(seed) + ", round " + std::to_string(round);
      for (const Batch::Item& item : batch->items) where += "\n  " + Describe(item.request);
      SubmitAll(*engine, batch);
      ASSERT_TRUE(WaitAll(*batch)) << "hangs: " << where;
      for (size_t i = 0; i < batch->items.size(); ++i) {
        const Batch::Item& item = batch->items[i];
        ExpectFreshAnswer(item, Reference(item.request),
                          "request " + std::to_string(i) + " of " + where);
        ++requests;
        if (item.result && item.result->cached_prompt_tokens > 0) ++reused;
      }
    }
  }
  std::printf(
      "[ prefix sharing ] %d requests (%d token prompts), %d started from a cached prefix\n",
      requests, token_prompts, reused);
  EXPECT_GT(reused, requests / 2) << "the requests were meant to share prefixes";
}

// A long prompt prefilled in small pieces while a request decodes; the same prompt submitted by
// three more requests, which wait for that prefill. `trouble` makes the first one fail or cancel
// (with one of the waiting ones) during its prefill: the others start without it and answer
// exactly.
class SharedPrefillTrouble : public PrefixSharingTest {
 protected:
  enum class Trouble { kCancel, kFail };

  void Play(Trouble trouble) {
    const auto engine = Engine::Load(Options(5, 4));
    std::string text;
    for (int i = 0; i < 60; ++i) text += "word" + std::to_string(i) + " ";
    Request shared;
    shared.messages.push_back(Message::Text("user", text));
    shared.sampling.temperature = 0.0f;
    shared.sampling.repetition_penalty = 1.0f;
    shared.sampling.max_new_tokens = 5;
    const Result& reference = Reference(shared);
    ASSERT_GT(reference.prompt_tokens, 100);  // 25 pieces and more

    // The decoding request counts its tokens; at the 6th after `armed`, it makes the trouble.
    Request decoding;
    decoding.messages.push_back(Message::Text("user", "Hi"));
    decoding.sampling.temperature = 0.0f;
    decoding.sampling.repetition_penalty = 1.0f;
    decoding.sampling.max_new_tokens = 300;
    decoding.sampling.logprobs = 0;  // on_token at every token
    struct Trigger {
      std::mutex mu;
      std::condition_variable cv;
      int tokens = 0, armed_at = -1;
      bool fired = false;
      std::vector<std::shared_ptr<RequestHandle>> to_cancel;
    };
    auto trigger = std::make_shared<Trigger>();
    decoding.on_token = [trigger](const TokenLogprob&) {
      std::lock_guard<std::mutex> lock(trigger->mu);
      ++trigger->tokens;
      trigger->cv.notify_all();
      if (trigger->armed_at < 0 || trigger->fired || trigger->tokens < trigger->armed_at + 6)
        return;
      for (const auto& h : trigger->to_cancel) h->Cancel();
      trigger->fired = true;
    };
    auto first = std::make_shared<Batch>();
    first->items.push_back({decoding, nullptr, std::nullopt, "", false});
    SubmitAll(*engine, first);
    {
      std::unique_lock<std::mutex> lock(trigger->mu);
      ASSERT_TRUE(trigger->cv.wait_for(lock, kWaitLimit, [&] { return trigger->tokens > 0; }));
    }

    // The troubled one first (it prefills), then three that wait for it.
    auto batch = std::make_shared<Batch>();
    Request troubled = shared;
    if (trouble == Trouble::kFail) troubled.sampling.top_p = 0.0f;  // refused once prefilled
    batch->items.push_back({troubled, nullptr, std::nullopt, "", false});
    for (int i = 0; i < 3; ++i) batch->items.push_back({shared, nullptr, std::nullopt, "", false});
    SubmitAll(*engine, batch);
    {
      std::lock_guard<std::mutex> lock(trigger->mu);
      if (trouble == Trouble::kCancel) {
        trigger->to_cancel = {batch->items[0].handle, batch->items[3].handle};
      }
      trigger->armed_at = trigger->tokens;
    }
    ASSERT_TRUE(WaitAll(*batch)) << "hangs";
    first->items[0].handle->Cancel();
    ASSERT_TRUE(WaitAll(*first)) << "hangs";
    {
      std::lock_guard<std::mutex> lock(trigger->mu);
      if (trouble == Trouble::kCancel) {
        ASSERT_TRUE(trigger->fired) << "the decoding request ended before the cancellations";
      }
    }

    const Batch::Item& t = batch->items[0];
    if (trouble == Trouble::kFail) {
      EXPECT_NE(t.error.find("top_p"), std::string::npos) << "error: " << t.error;
      EXPECT_FALSE(t.result.has_value());
    } else {
      ASSERT_TRUE(t.result.has_value()) << t.error;
      EXPECT_EQ(t.result->finish_reason, FinishReason::kCancelled);
      EXPECT_EQ(t.result->completion_tokens, 0) << "cancelled during its prefill";
      const Batch::Item& waiting = batch->items[3];
      ASSERT_TRUE(waiting.result.has_value()) << waiting.error;
      EXPECT_EQ(waiting.result->finish_reason, FinishReason::kCancelled);
      EXPECT_EQ(waiting.result->completion_tokens, 0) << "cancelled while waiting";
      EXPECT_EQ(waiting.result->prompt_tokens, reference.prompt_tokens);
    }
    const size_t last = trouble == Trouble::kCancel ? 3 : 4;
    size_t whole_prefix = 0;
    for (size_t i = 1; i < last; ++i) {
      ExpectFreshAnswer(batch->items[i], reference, "waiting request " + std::to_string(i));
      if (batch->items[i].result &&
          batch->items[i].result->cached_prompt_tokens == reference.prompt_tokens - 1)
        ++whole_prefix;
    }
    // One computed the prompt again after the trouble; the others copied it from that one.
    EXPECT_GE(whole_prefix, last - 2);
    // The decoding request's answer so far is the start of its own.
    ASSERT_TRUE(first->items[0].result.has_value()) << first->items[0].error;
    Request as_long = decoding;
    as_long.on_token = nullptr;
    as_long.sampling.max_new_tokens = first->items[0].result->completion_tokens;
    EXPECT_EQ(first->items[0].result->tokens, Reference(as_long).tokens);
  }
};

TEST_F(SharedPrefillTrouble, CancelledDuringASharedPrefill) { Play(Trouble::kCancel); }
TEST_F(SharedPrefillTrouble, FailingAtTheEndOfASharedPrefill) { Play(Trouble::kFail); }

}  // namespace
}  // namespace qwenvl
