// A scripted EngineClient for the server tests: streams fixed text pieces from its own threads, can
// fail a request, refuse when "full", and reports how requests ended. Each piece is one "token":
// with SamplingParams::logprobs >= 0 it is reported to Request::on_token before its text, with
// made-up but fixed logprobs (FakeLogprob), and listed in Result::logprobs.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "server/engine_client.h"

namespace qwenvl::server::testing {

class FakeEngineClient : public EngineClient {
 public:
  struct Script {
    std::vector<std::string> pieces = {"Hello", ", ", "world", "!"};
    int piece_delay_ms = 0;
    std::optional<Error> error;  // reported by on_done before any text
    FinishReason finish = FinishReason::kStop;
    std::vector<MediaInfo> media;
    std::optional<RequestPlan> plan;  // Result::plan
    int64_t prompt_tokens = 10;       // of a chat request (a token-id prompt counts its ids)
    std::vector<TokenId> prompt_ids;  // Result::prompt_ids, unless the request gave its own
    // Tokens chosen after the pieces whose text never comes (as a stop string's): reported to
    // on_token and in the result's tokens, not streamed.
    std::vector<std::string> held_back;
    // Reports one more token to on_token at the end, not in the result (an end-of-text token).
    bool report_end_token = false;
    // Puts "[seed N] " before the first piece of a seeded request, so that tests see which
    // request gave which answer.
    bool tag_seed = false;
    // Reported to Request::on_progress before the first piece, each after progress_delay_ms.
    std::vector<Progress> progress;
    int progress_delay_ms = 0;
  };

  // The logprob given to the i-th token of an answer, and to its j-th alternative (j = 0 is the
  // token itself: the fake always chose the likeliest).
  static float FakeLogprob(size_t i, size_t j = 0) {
    return -0.125f * static_cast<float>(i + 1) - static_cast<float>(j);
  }
  static TokenId FakeTokenId(size_t i) { return static_cast<TokenId>('a' + i % 26); }
  static TokenLogprob FakeToken(size_t i, const std::string& text, int top) {
    TokenLogprob t;
    t.token = FakeTokenId(i);
    t.text = text;
    t.logprob = FakeLogprob(i);
    for (int j = 0; j < top; ++j) {
      TokenLogprob alternative;
      alternative.token = j == 0 ? t.token : 200 + j;
      alternative.text = j == 0 ? text : "alt" + std::to_string(j);
      alternative.logprob = FakeLogprob(i, static_cast<size_t>(j));
      t.top.push_back(std::move(alternative));
    }
    return t;
  }

  ~FakeEngineClient() override {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

  std::shared_ptr<RequestHandle> Submit(Request request, StreamCallback on_text,
                                        DoneCallback on_done) override {
    std::lock_guard lock(mu_);
    if (max_in_flight > 0 && in_flight_ >= max_in_flight) {
      throw Error(ErrorCode::kOutOfRange, "queue full (fake)");
    }
    ++in_flight_;
    requests.push_back(request);
    auto handle = std::make_shared<Handle>();
    handle->waiting = parallel > 0;
    threads_.emplace_back([this, handle, script = script, request, on_text, on_done] {
      Run(script, request, *handle, on_text, on_done);
    });
    return handle;
  }

  std::string model_name() const override { return "fake-model"; }
  int64_t context_length() const override { return 4096; }
  // A byte tokenizer: token id = byte value; the template joins "role: text" lines.
  std::vector<TokenId> Tokenize(std::string_view text) const override {
    std::vector<TokenId> ids;
    for (const char c : text) ids.push_back(static_cast<unsigned char>(c));
    return ids;
  }
  std::string Detokenize(const std::vector<TokenId>& ids, bool) const override {
    std::string text;
    for (TokenId id : ids)
      if (id >= 0 && id < 256) text.push_back(static_cast<char>(id));
    return text;
  }
  std::string TokenBytes(TokenId id) const override {
    return id >= 0 && id < 256 ? std::string(1, static_cast<char>(id)) : std::string();
  }
  int64_t vocab_size() const override { return 256; }
  int queue_capacity() const override { return queue; }
  bool ready() const override { return loaded; }
  EngineStats stats() const override {
    std::lock_guard lock(mu_);
    return engine_stats;
  }
  std::string RenderPrompt(const Request& request) const override {
    std::string out;
    for (const Message& m : request.messages) {
      out += m.role + ":";
      for (const ContentPart& p : m.content)
        out += p.type == ContentPart::Type::kText ? p.text : "<media>";
      out += "\n";
    }
    return out;
  }

  // Requests submitted so far (Submit runs on the server's threads: read it under the lock).
  size_t submitted() {
    std::lock_guard lock(mu_);
    return requests.size();
  }

  int in_flight() {
    std::lock_guard lock(mu_);
    return in_flight_;
  }

  // Requests holding one of the `parallel` run slots now (the others report queued()).
  int running() {
    std::lock_guard lock(mu_);
    return running_;
  }

  Script script;
  int max_in_flight = 0;           // 0: unlimited (beyond it Submit throws: queue full)
  int parallel = 0;                // requests run at once, the others wait queued; 0: all run
  int queue = 64;                  // what queue_capacity() reports
  std::atomic<bool> loaded{true};  // what ready() reports
  EngineStats engine_stats;        // what stats() reports (set under no concurrent scrape)
  std::vector<Request> requests;
  std::atomic<int> cancelled_count{0};
  std::atomic<int> completed_count{0};
  std::atomic<int> answering_count{0};  // requests whose first piece of text was taken

 private:
  struct Handle : RequestHandle {
    void Cancel() override { cancelled = true; }
    bool queued() const override { return waiting; }
    std::atomic<bool> cancelled{false};
    std::atomic<bool> waiting{false};
  };

  // Waits for one of the `parallel` run slots (a cancelled request leaves the queue at once).
  bool TakeSlot(Handle& handle) {
    if (parallel <= 0) return true;
    std::unique_lock lock(mu_);
    while (running_ >= parallel) {
      if (handle.cancelled) return false;
      slot_cv_.wait_for(lock, std::chrono::milliseconds(5));
    }
    ++running_;
    handle.waiting = false;
    return true;
  }
  void GiveSlot() {
    if (parallel <= 0) return;
    std::lock_guard lock(mu_);
    --running_;
    slot_cv_.notify_all();
  }

  void Run(const Script& s, const Request& request, Handle& handle, const StreamCallback& on_text,
           const DoneCallback& on_done) {
    Result result;
    result.prompt_tokens = s.prompt_tokens;
    result.prompt_ids = request.prompt_ids ? *request.prompt_ids : s.prompt_ids;
    if (request.prompt_ids) {
      result.prompt_tokens = static_cast<int64_t>(request.prompt_ids->size());
    }
    result.media = s.media;
    result.plan = s.plan;
    result.finish_reason = s.finish;
    const int top = request.sampling.logprobs;
    // Reports the next token (before its text, as the engine does).
    // The fake's answer tokens are 'a', 'b', ... whatever their text.
    auto choose = [&](const std::string& text) {
      const size_t i = result.tokens.size();
      result.tokens.push_back(FakeTokenId(i));
      ++result.completion_tokens;
      if (top < 0) return;
      result.logprobs.push_back(FakeToken(i, text, top));
      if (request.on_token) request.on_token(result.logprobs.back());
    };
    const bool ran = TakeSlot(handle);
    if (!ran) result.finish_reason = FinishReason::kCancelled;
    if (ran && !s.error) {
      std::vector<std::string> pieces = s.pieces;
      if (s.tag_seed && request.sampling.seed && !pieces.empty()) {
        pieces[0] = "[seed " + std::to_string(*request.sampling.seed) + "] " + pieces[0];
      }
      for (const Progress& p : s.progress) {
        if (s.progress_delay_ms)
          std::this_thread::sleep_for(std::chrono::milliseconds(s.progress_delay_ms));
        if (request.on_progress) request.on_progress(p);
      }
      for (const auto& piece : pieces) {
        if (s.piece_delay_ms)
          std::this_thread::sleep_for(std::chrono::milliseconds(s.piece_delay_ms));
        if (handle.cancelled) break;
        choose(piece);
        if (!on_text(piece)) {
          handle.cancelled = true;
          break;
        }
        if (result.completion_tokens == 1) ++answering_count;
        result.text += piece;
      }
      if (handle.cancelled) {
        result.finish_reason = FinishReason::kCancelled;
      } else {
        for (const auto& piece : s.held_back) choose(piece);
        if (s.report_end_token && top >= 0 && request.on_token) {
          request.on_token(FakeToken(result.tokens.size(), "<end>", top));
        }
      }
    }
    if (ran) GiveSlot();
    if (handle.cancelled) ++cancelled_count;
    {
      std::lock_guard lock(mu_);
      --in_flight_;
    }
    if (ran && s.error) {
      on_done(nullptr, &*s.error);
    } else {
      on_done(&result, nullptr);
    }
    ++completed_count;
  }

  mutable std::mutex mu_;
  std::vector<std::thread> threads_;
  std::condition_variable slot_cv_;
  int in_flight_ = 0;
  int running_ = 0;
};

}  // namespace qwenvl::server::testing
