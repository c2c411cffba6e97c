// The scheduler's chunked prefill on the tiny random checkpoint: a long prompt goes in pieces of
// EngineOptions::prefill_chunk_tokens, the requests already decoding take their steps between the
// pieces, the answers are those of synchronous runs, and a request cancelled midway frees its
// sequence for the next.
#include <gtest/gtest.h>

#include <atomic>
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

class ChunkedPrefillTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("qwenvl_chunked_prefill_" + std::to_string(getpid())));
    io::WriteTestModel(io::GetTestModelPreset("tiny"), dir_->string(),
                       QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct");
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::unique_ptr<Engine> Load(int64_t chunk) {
    EngineOptions o;
    o.model_dir = dir_->string();
    o.threads = 2;
    o.context_length = 1024;
    o.max_parallel = 2;
    o.prefill_chunk_tokens = chunk;
    return Engine::Load(o);
  }
  static Request Greedy(const std::string& text, int64_t max_tokens) {
    Request r;
    r.messages.push_back(Message::Text("user", text));
    r.sampling.temperature = 0.0f;
    r.sampling.max_new_tokens = max_tokens;
    return r;
  }
  static std::string LongText() {
    std::string s;
    for (int i = 0; i < 150; ++i) s += "word" + std::to_string(i) + " ";
    return s;
  }
  static fs::path* dir_;
};
fs::path* ChunkedPrefillTest::dir_ = nullptr;

// Events in the order the scheduler thread produced them.
struct Timeline {
  std::mutex mu;
  std::condition_variable cv;
  int next = 0, done = 0;
  int short_done_at = -1, long_first_text_at = -1;
  std::optional<Result> short_result, long_result;
  int Tick() { return next++; }  // under mu
};

TEST_F(ChunkedPrefillTest, DecodingRequestsStepBetweenThePiecesOfALongPrompt) {
  std::unique_ptr<Engine> engine = Load(4);
  const Request short_request = Greedy("Hi", 12);
  const Request long_request = Greedy(LongText(), 3);
  const Result short_sync = engine->Generate(short_request);
  const Result long_sync = engine->Generate(long_request);
  ASSERT_GT(long_sync.prompt_tokens, 12 * 4 * 2);  // far more pieces than the short one's steps
  engine = Load(4);                                // fresh caches: nothing to reuse

  Timeline t;
  engine->Submit(short_request, nullptr, [&](const Result* r, const Error* e) {
    std::lock_guard<std::mutex> lock(t.mu);
    EXPECT_EQ(e, nullptr);
    if (r != nullptr) t.short_result = *r;
    t.short_done_at = t.Tick();
    ++t.done;
    t.cv.notify_all();
  });
  engine->Submit(
      long_request,
      [&](std::string_view) {
        std::lock_guard<std::mutex> lock(t.mu);
        if (t.long_first_text_at < 0) t.long_first_text_at = t.Tick();
        return true;
      },
      [&](const Result* r, const Error* e) {
        std::lock_guard<std::mutex> lock(t.mu);
        EXPECT_EQ(e, nullptr);
        if (r != nullptr) t.long_result = *r;
        ++t.done;
        t.cv.notify_all();
      });
  std::unique_lock<std::mutex> lock(t.mu);
  ASSERT_TRUE(t.cv.wait_for(lock, std::chrono::seconds(60), [&] { return t.done == 2; }));
  ASSERT_TRUE(t.short_result && t.long_result);
  EXPECT_EQ(t.short_result->tokens, short_sync.tokens);
  EXPECT_EQ(t.long_result->tokens, long_sync.tokens);
  EXPECT_EQ(t.long_result->text, long_sync.text);
  // The short request finished while the long prompt was still going in.
  if (t.long_first_text_at >= 0) {
    EXPECT_LT(t.short_done_at, t.long_first_text_at);
  }
  EXPECT_GE(t.long_result->timings.prefill_ms, 0.0);
}

// A request is cancelled from another request's text callback, which runs between the pieces of
// its prompt (one token per piece): it ends cancelled without an answer, and both sequences serve
// the next requests exactly.
TEST_F(ChunkedPrefillTest, CancelledMidPrefillEndsCancelledAndFreesTheSequence) {
  std::unique_ptr<Engine> engine = Load(1);
  const Request short_request = Greedy("Hi", 12);
  const Request follow_up = Greedy("Hello there", 5);
  const Result short_sync = engine->Generate(short_request);
  const Result follow_up_sync = engine->Generate(follow_up);
  ASSERT_GE(short_sync.completion_tokens, 3);
  engine = Load(1);

  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result> cancelled;
  std::vector<Result> after;
  int done = 0, pieces = 0;
  std::shared_ptr<RequestHandle> long_handle;
  auto on_done = [&](std::optional<Result>* slot) {
    return [&, slot](const Result* r, const Error* e) {
      std::lock_guard<std::mutex> lock(mu);
      EXPECT_EQ(e, nullptr) << (e ? e->what() : "");
      if (r != nullptr) {
        if (slot != nullptr)
          *slot = *r;
        else
          after.push_back(*r);
      }
      ++done;
      cv.notify_all();
    };
  };
  {
    std::lock_guard<std::mutex> lock(mu);  // the callbacks wait until the handle is set
    engine->Submit(
        short_request,
        [&](std::string_view) {
          std::lock_guard<std::mutex> inner(mu);
          if (++pieces == 3) long_handle->Cancel();  // the long prompt is still going in
          return true;
        },
        on_done(nullptr));
    long_handle = engine->Submit(Greedy(LongText(), 5), nullptr, on_done(&cancelled));
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done == 2; }));
  }
  for (int i = 0; i < 2; ++i) engine->Submit(follow_up, nullptr, on_done(nullptr));
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done == 4; }));
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_EQ(cancelled->finish_reason, FinishReason::kCancelled);
  EXPECT_GT(cancelled->prompt_tokens, 100);  // admitted and prepared, not dropped from the queue
  EXPECT_EQ(cancelled->completion_tokens, 0);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after[0].tokens, short_sync.tokens);
  EXPECT_EQ(after[1].tokens, follow_up_sync.tokens);
  EXPECT_EQ(after[2].tokens, follow_up_sync.tokens);
}

}  // namespace
}  // namespace qwenvl
