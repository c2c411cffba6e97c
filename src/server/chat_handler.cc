// Requests run on the backend's threads; an HTTP thread waits on a Generation for text or the end.
// A streamed request only commits to "200 OK" once its first text arrived (or it ended), so that
// errors found while preparing the prompt (a bad picture, a prompt over the context) still get
// their 4xx status and JSON body.
#include "server/chat_handler.h"

#include <chrono>
#include <condition_variable>
#include <optional>

#include "server/api_error.h"
#include "server/peer_probe.h"
#include "server/sse.h"

namespace qwenvl::server {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Generation {
  std::mutex mu;
  std::condition_variable cv;
  std::string pending;  // text streamed by the backend, not yet sent
  bool first_text = false;
  bool done = false;
  std::optional<Result> result;
  std::optional<Error> error;
  std::atomic<bool> cancelled{false};
  std::shared_ptr<RequestHandle> handle;
  std::shared_ptr<TempFiles> temp_files;
  Clock::time_point submitted = Clock::now();

  void Cancel() {
    cancelled = true;
    if (handle) handle->Cancel();
  }
};

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void WriteApiError(httplib::Response& res, const ApiError& e) {
  res.status = e.status();
  res.set_content(e.ToJson().dump(), "application/json");
}

// Submits and wires the callbacks; throws ApiError when the backend refuses.
std::shared_ptr<Generation> Start(ChatRequest chat, ChatContext& ctx) {
  auto gen = std::make_shared<Generation>();
  gen->temp_files = std::move(chat.temp_files);
  Metrics& metrics = ctx.metrics;
  auto on_text = [gen, &metrics](std::string_view text) {
    std::lock_guard lock(gen->mu);
    if (!gen->first_text) {
      gen->first_text = true;
      metrics.FirstToken(SecondsSince(gen->submitted));
    }
    gen->pending.append(text);
    gen->cv.notify_all();
    return !gen->cancelled.load();
  };
  auto on_done = [gen, &metrics, &ctx](const Result* result, const Error* error) {
    std::lock_guard lock(gen->mu);
    const bool cancelled = result && result->finish_reason == FinishReason::kCancelled;
    metrics.Finished(gen->first_text, SecondsSince(gen->submitted),
                     result ? result->prompt_tokens : 0, result ? result->completion_tokens : 0,
                     cancelled);
    if (result) gen->result = *result;
    if (error) gen->error = *error;
    if (!result && !error) gen->error = Error(ErrorCode::kInternal, "request ended without result");
    gen->done = true;
    gen->temp_files.reset();
    if (gen->handle) {  // null when Submit has not returned yet: Start then skips the insertion
      std::lock_guard running_lock(ctx.mu);
      ctx.running.erase(gen->handle);
    }
    gen->cv.notify_all();
  };
  metrics.Submitted();
  std::shared_ptr<RequestHandle> handle;
  try {
    // Not under gen->mu: a backend may call back before Submit returns.
    handle = ctx.backend.Submit(std::move(chat.request), on_text, on_done);
  } catch (const Error& e) {
    metrics.Finished(false, 0.0, 0, 0, false);
    if (e.code() == ErrorCode::kOutOfRange) {
      throw ApiError(429, std::string("the server is busy: ") + e.what(), "", "queue_full",
                     "rate_limit_error");
    }
    throw FromEngineError(e);
  }
  std::lock_guard lock(gen->mu);
  gen->handle = handle;
  if (!gen->done) {
    std::lock_guard running_lock(ctx.mu);
    ctx.running.insert(handle);
  }
  return gen;
}

// Chunked-content provider of a streamed answer: each call sends what arrived since the last one.
class StreamWriter {
 public:
  StreamWriter(std::shared_ptr<Generation> gen, CompletionMeta meta, bool include_usage)
      : gen_(std::move(gen)), meta_(std::move(meta)), include_usage_(include_usage) {}

  bool operator()(size_t /*offset*/, httplib::DataSink& sink) {
    std::string out;
    if (!sent_role_) {
      out += SseEvent(ChunkJson(meta_, {{"role", "assistant"}, {"content", ""}}, nullptr));
      sent_role_ = true;
    }
    std::unique_lock lock(gen_->mu);
    gen_->cv.wait_for(lock, std::chrono::milliseconds(500),
                      [&] { return !gen_->pending.empty() || gen_->done; });
    if (!gen_->pending.empty()) {
      out += SseEvent(ChunkJson(meta_, {{"content", gen_->pending}}, nullptr));
      gen_->pending.clear();
    }
    const bool done = gen_->done;
    lock.unlock();
    if (done) out += Ending();
    if (!out.empty() && !sink.write(out.data(), out.size())) {
      gen_->Cancel();  // the client went away
      return false;
    }
    if (done) sink.done();
    return true;
  }

 private:
  std::string Ending() {
    if (gen_->error) {
      const ApiError e = FromEngineError(*gen_->error);
      return SseEvent(e.ToJson()) + SseDone();
    }
    const Result& r = *gen_->result;
    std::string out = SseEvent(
        ChunkJson(meta_, json::object(), OpenAiFinishReason(r.finish_reason), QwenvlExtraJson(r)));
    if (include_usage_) out += SseEvent(UsageChunkJson(meta_, r));
    return out + SseDone();
  }

  std::shared_ptr<Generation> gen_;
  CompletionMeta meta_;
  bool include_usage_;
  bool sent_role_ = false;
};

}  // namespace

void WriteError(httplib::Response& res, int status, const std::string& message,
                const std::string& code, const std::string& param) {
  WriteApiError(res, ApiError(status, message, param, code));
}

void HandleChatCompletion(const httplib::Request& req, httplib::Response& res, ChatContext& ctx) {
  std::shared_ptr<Generation> gen;
  ChatRequest chat;
  try {
    chat = ParseChatRequest(req.body, ctx.schema);
    const bool stream = chat.stream, include_usage = chat.include_usage;
    gen = Start(std::move(chat), ctx);
    // Until the response starts, the only sign of a client that left is its socket: look at it
    // twice a second, and cancel the request when it has closed.
    const PeerProbe peer(req.remote_addr, req.remote_port);
    std::unique_lock lock(gen->mu);
    while (!gen->cv.wait_for(lock, std::chrono::milliseconds(500),
                             [&] { return gen->done || (stream && gen->first_text); })) {
      if (peer.Gone()) {
        lock.unlock();
        gen->Cancel();
        ctx.metrics.CountRequest(499);  // nginx's "client closed request": nobody reads it
        return;
      }
    }
    if (gen->done && gen->error) throw FromEngineError(*gen->error);
    lock.unlock();
    const CompletionMeta meta = NewCompletionMeta(ctx.backend.model_name());
    if (!stream) {
      res.set_content(
          CompletionJson(meta, *gen->result).dump(-1, ' ', false, json::error_handler_t::replace),
          "application/json");
    } else {
      res.set_header("Cache-Control", "no-cache");
      res.set_header("X-Accel-Buffering", "no");
      res.set_chunked_content_provider("text/event-stream", StreamWriter(gen, meta, include_usage),
                                       [gen](bool success) {
                                         if (!success) gen->Cancel();
                                       });
    }
    ctx.metrics.CountRequest(200);
  } catch (const ApiError& e) {
    WriteApiError(res, e);
    ctx.metrics.CountRequest(e.status());
  } catch (const Error& e) {  // thrown by a backend outside its callbacks
    const ApiError api = FromEngineError(e);
    WriteApiError(res, api);
    ctx.metrics.CountRequest(api.status());
  } catch (const std::exception& e) {
    WriteApiError(res, ApiError(500, e.what(), "", "internal_error"));
    ctx.metrics.CountRequest(500);
  }
}

}  // namespace qwenvl::server
