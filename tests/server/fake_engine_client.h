// A scripted EngineClient for the server tests: streams fixed text pieces from its own threads, can
// fail a request, refuse when "full", and reports how requests ended.
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
    int64_t prompt_tokens = 10;
    std::vector<TokenId> prompt_ids;  // Result::prompt_ids, unless the request gave its own
  };

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
    Script run = script;
    if (request.prompt_ids) run.prompt_ids = *request.prompt_ids;
    threads_.emplace_back([this, handle, script = std::move(run), on_text, on_done] {
      Run(script, *handle, on_text, on_done);
    });
    return handle;
  }

  std::string model_name() const override { return "fake-model"; }
  int64_t context_length() const override { return 4096; }
  // A byte tokenizer: token id = byte value; the template joins "role: text" lines.
  std::vector<TokenId> Tokenize(std::string_view text) const override {
    return std::vector<TokenId>(text.begin(), text.end());
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
  int max_in_flight = 0;  // 0: unlimited (beyond it Submit throws: queue full)
  int parallel = 0;       // requests run at once, the others wait queued; 0: all run
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

  void Run(const Script& s, Handle& handle, const StreamCallback& on_text,
           const DoneCallback& on_done) {
    Result result;
    result.prompt_tokens = s.prompt_tokens;
    result.prompt_ids = s.prompt_ids;
    result.media = s.media;
    result.finish_reason = s.finish;
    const bool ran = TakeSlot(handle);
    if (!ran) result.finish_reason = FinishReason::kCancelled;
    if (ran && !s.error) {
      for (const auto& piece : s.pieces) {
        if (s.piece_delay_ms)
          std::this_thread::sleep_for(std::chrono::milliseconds(s.piece_delay_ms));
        if (handle.cancelled || !on_text(piece)) {
          handle.cancelled = true;
          result.finish_reason = FinishReason::kCancelled;
          break;
        }
        if (result.completion_tokens == 0) ++answering_count;
        result.text += piece;
        result.tokens.push_back(static_cast<TokenId>('a' + result.completion_tokens % 26));
        ++result.completion_tokens;
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

  std::mutex mu_;
  std::vector<std::thread> threads_;
  std::condition_variable slot_cv_;
  int in_flight_ = 0;
  int running_ = 0;
};

}  // namespace qwenvl::server::testing
