// A request runs on the engine's threads; its coroutine on the event loop sleeps on a timer that
// the engine's callbacks cut short. A streamed request only commits to "200 OK" once its first
// text arrived (or it ended), so that errors found while preparing the prompt (a bad picture, a
// prompt over the context) still get their 4xx status and JSON body.
#include "server/chat_handler.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <optional>

#include "server/api_error.h"
#include "server/openai_response.h"
#include "server/sse.h"
#include "server/tool_calls.h"

namespace qwenvl::server {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

// How a drain ended a request before the engine did.
enum class Ending { kNone, kRefused, kAborted };

struct ChatRequestState {
  // Written by the engine's callbacks, read by the coroutine.
  std::mutex mu;
  std::string pending;  // text streamed by the engine, not yet sent
  bool first_text = false;
  bool done = false;
  std::optional<Result> result;
  std::optional<Error> error;
  std::atomic<bool> cancelled{false};
  std::shared_ptr<TempFiles> temp_files;  // the engine may read frame files until it is done
  Clock::time_point submitted = Clock::now();
  // Set before Submit and never changed: safe to read from the callbacks.
  std::shared_ptr<LoopLink> loop;
  std::weak_ptr<net::steady_timer> timer;
  // Event-loop thread only.
  std::shared_ptr<RequestHandle> handle;
  Ending ending = Ending::kNone;

  void Wake() {
    loop->Post([t = timer] {
      if (auto timer = t.lock()) timer->cancel();
    });
  }
  void Cancel() {
    cancelled = true;
    if (handle) handle->Cancel();
  }
};

namespace {

constexpr auto kNoThrow = net::as_tuple(net::use_awaitable);
// How often a waiting request looks at its client's socket when nothing else wakes it.
constexpr auto kPeerCheck = std::chrono::milliseconds(500);

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

ApiError ShuttingDown() {
  return ApiError(503, "the server is shutting down; retry on another instance", "",
                  "server_shutting_down", "server_error");
}

// Submits and wires the callbacks; throws ApiError when the engine refuses.
std::shared_ptr<ChatRequestState> Start(ChatRequest chat, ChatContext& ctx,
                                        const std::shared_ptr<net::steady_timer>& timer) {
  auto state = std::make_shared<ChatRequestState>();
  state->temp_files = std::move(chat.temp_files);
  state->loop = ctx.loop;
  state->timer = timer;
  Metrics& metrics = ctx.metrics;
  auto on_text = [state, &metrics](std::string_view text) {
    {
      std::lock_guard lock(state->mu);
      if (!state->first_text) {
        state->first_text = true;
        metrics.FirstToken(SecondsSince(state->submitted));
      }
      state->pending.append(text);
    }
    state->Wake();
    return !state->cancelled.load();
  };
  auto on_done = [state, &metrics](const Result* result, const Error* error) {
    {
      std::lock_guard lock(state->mu);
      const bool cancelled = result && result->finish_reason == FinishReason::kCancelled;
      metrics.Finished(state->first_text, SecondsSince(state->submitted),
                       result ? result->prompt_tokens : 0, result ? result->completion_tokens : 0,
                       cancelled);
      if (result) state->result = *result;
      if (error) state->error = *error;
      if (!result && !error)
        state->error = Error(ErrorCode::kInternal, "request ended without result");
      state->done = true;
      state->temp_files.reset();
    }
    state->Wake();
  };
  metrics.Submitted();
  try {
    state->handle = ctx.engine.Submit(std::move(chat.request), on_text, on_done);
  } catch (const Error& e) {
    metrics.Finished(false, 0.0, 0, 0, false);
    if (e.code() == ErrorCode::kOutOfRange) {
      throw ApiError(429, std::string("the server is busy: ") + e.what(), "", "queue_full",
                     "rate_limit_error");
    }
    throw FromEngineError(e);
  }
  ctx.live.insert(state);
  return state;
}

void Record(AccessRecord& record, const Result& r) {
  record.prompt_tokens = r.prompt_tokens;
  record.completion_tokens = r.completion_tokens;
  record.cached_tokens = r.cached_prompt_tokens;
}

// OpenAI's chat.completion, or its chunks as server-sent events.
class OpenAiChatWriter final : public AnswerWriter {
 public:
  // tool_calls: tools were offered, so <tool_call> blocks in the answer become tool_calls.
  OpenAiChatWriter(const std::string& model, bool include_usage, bool tool_calls)
      : meta_(NewCompletionMeta(model)), include_usage_(include_usage), tool_calls_(tool_calls) {}

  json Whole(const Result& r) override {
    json j = CompletionJson(meta_, r);
    if (!tool_calls_) return j;
    const ParsedAnswer answer = ParseToolCalls(r.text);
    if (answer.calls.empty()) return j;
    json& choice = j["choices"][0];
    choice["message"]["content"] = answer.content.empty() ? json(nullptr) : json(answer.content);
    json calls = json::array();
    for (const ToolCall& c : answer.calls) calls.push_back(CallJson(c, -1));
    choice["message"]["tool_calls"] = std::move(calls);
    choice["finish_reason"] = "tool_calls";
    return j;
  }
  std::string_view stream_type() const override { return "text/event-stream"; }
  std::string StreamBegin() override {
    return SseEvent(ChunkJson(meta_, {{"role", "assistant"}, {"content", ""}}, nullptr));
  }
  std::string StreamText(std::string_view text) override {
    if (!tool_calls_) return SseEvent(ChunkJson(meta_, {{"content", text}}, nullptr));
    std::vector<ToolCall> calls;
    std::string out = Content(calls_.Push(text, &calls));  // before Calls: it fills `calls`
    return out + Calls(calls);
  }
  std::string StreamEnd(const Result& r) override {
    std::string out;
    if (tool_calls_) {
      std::vector<ToolCall> calls;
      out = Content(calls_.Flush(&calls));
    }
    const char* finish = streamed_calls_ > 0 ? "tool_calls" : OpenAiFinishReason(r.finish_reason);
    out += SseEvent(ChunkJson(meta_, json::object(), finish, QwenvlExtraJson(r)));
    if (include_usage_) out += SseEvent(UsageChunkJson(meta_, r));
    return out + SseDone();
  }
  std::string StreamError(const ApiError& e) override { return SseEvent(e.ToJson()) + SseDone(); }

 private:
  // A call as OpenAI writes it; streamed deltas carry their index.
  static json CallJson(const ToolCall& c, int index) {
    json j = {{"id", c.id},
              {"type", "function"},
              {"function", {{"name", c.name}, {"arguments", c.arguments}}}};
    if (index >= 0) j["index"] = index;
    return j;
  }
  std::string Content(const std::string& text) {
    return text.empty() ? "" : SseEvent(ChunkJson(meta_, {{"content", text}}, nullptr));
  }
  // Each call goes out whole in one delta, once its </tool_call> arrived.
  std::string Calls(const std::vector<ToolCall>& calls) {
    std::string out;
    for (const ToolCall& c : calls)
      out += SseEvent(ChunkJson(
          meta_, {{"tool_calls", json::array({CallJson(c, streamed_calls_++)})}}, nullptr));
    return out;
  }

  CompletionMeta meta_;
  bool include_usage_;
  bool tool_calls_;
  ToolCallStream calls_;
  int streamed_calls_ = 0;
};

// Whether a drain ended the request: it refused or aborted it, and the engine has not finished it
// otherwise (the cancellation the drain asked for may already have come back as the result).
bool EndedByDrain(const ChatRequestState& s, bool done) {
  if (s.ending == Ending::kNone) return false;
  if (!done) return true;
  return !s.error && s.result && s.result->finish_reason == FinishReason::kCancelled;
}

// Parses the body on the parse executor: base64 payloads and remote fetches take time that the
// event loop must not spend.
net::awaitable<ChatRequest> Parse(const std::string& body, const ChatContext& ctx) {
  co_return co_await net::co_spawn(
      ctx.parse_executor,
      [&body, &ctx]() -> net::awaitable<ChatRequest> {
        co_return ParseChatRequest(body, ctx.schema);
      },
      net::use_awaitable);
}

}  // namespace

ApiError FailureOf(std::exception_ptr failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const ApiError& e) {
    return e;
  } catch (const Error& e) {  // thrown by an engine outside its callbacks
    return FromEngineError(e);
  } catch (const std::exception& e) {
    return ApiError(500, e.what(), "", "internal_error");
  }
}

net::awaitable<void> RefuseGeneration(HttpExchange& ex, ChatContext& ctx, const ApiError& e) {
  if (e.status() == 503) ex.close_after();
  co_await ex.SendError(e);
  ctx.metrics.CountRequest(e.status());
}

net::awaitable<void> HandleChatCompletion(HttpExchange& ex, ChatContext& ctx) {
  std::optional<ChatRequest> chat;
  std::optional<ApiError> failure;
  try {
    chat = co_await Parse(ex.request().body(), ctx);
  } catch (...) {
    failure = FailureOf(std::current_exception());
  }
  if (failure) {
    co_await RefuseGeneration(ex, ctx, *failure);
    co_return;
  }
  OpenAiChatWriter writer(ctx.engine.model_name(), chat->include_usage, chat->tool_calls);
  co_await AnswerGeneration(ex, ctx, std::move(*chat), writer);
}

net::awaitable<void> AnswerGeneration(HttpExchange& ex, ChatContext& ctx, ChatRequest chat,
                                      AnswerWriter& writer) {
  AccessRecord& record = ex.record();
  std::optional<ApiError> failure;
  std::shared_ptr<ChatRequestState> state;
  auto timer = std::make_shared<net::steady_timer>(ex.executor());
  const bool stream = chat.stream;
  try {
    if (ctx.draining) throw ShuttingDown();
    state = Start(std::move(chat), ctx, timer);
  } catch (...) {
    failure = FailureOf(std::current_exception());
  }
  if (failure) {
    co_await RefuseGeneration(ex, ctx, *failure);
    co_return;
  }
  struct Forget {  // however this coroutine ends, the drain stops tracking the request
    ChatContext& ctx;
    std::shared_ptr<ChatRequestState> state;
    ~Forget() { ctx.live.erase(state); }
  } forget{ctx, state};

  auto sleep = [&]() -> net::awaitable<void> {
    timer->expires_after(kPeerCheck);
    co_await timer->async_wait(kNoThrow);
  };
  // Until the response starts, the only sign of a client that left is its socket.
  for (;;) {
    {
      std::lock_guard lock(state->mu);
      if (state->done || (stream && state->first_text)) break;
    }
    if (state->ending != Ending::kNone) break;
    if (ex.PeerGone()) {
      state->Cancel();
      record.status = 499;  // "client closed request": nobody reads the answer
      ctx.metrics.CountRequest(499);
      co_return;
    }
    co_await sleep();
  }
  bool done;
  {
    std::lock_guard lock(state->mu);
    done = state->done;
  }
  if (EndedByDrain(*state, done)) {
    // Refused while queued, or a non-streamed answer that ran out of the drain's time.
    ex.close_after();
    co_await ex.SendError(ShuttingDown());
    ctx.metrics.CountRequest(503);
    co_return;
  }
  if (done && state->error) {
    const ApiError e = FromEngineError(*state->error);
    co_await ex.SendError(e);
    ctx.metrics.CountRequest(e.status());
    co_return;
  }
  if (!stream) {
    Record(record, *state->result);
    co_await ex.SendJson(200, writer.Whole(*state->result));
    ctx.metrics.CountRequest(200);
    co_return;
  }

  ctx.metrics.CountRequest(200);
  if (!co_await ex.BeginStream(200, writer.stream_type())) {
    state->Cancel();
    co_return;
  }
  std::string out = writer.StreamBegin();
  for (;;) {
    std::string text;
    {
      std::lock_guard lock(state->mu);
      text.swap(state->pending);
      done = state->done;
    }
    if (!text.empty()) out += writer.StreamText(text);
    const bool aborted = EndedByDrain(*state, done);
    if (aborted) {
      out += writer.StreamError(ShuttingDown());
      ex.close_after();
    } else if (done) {
      out += state->error ? writer.StreamError(FromEngineError(*state->error))
                          : writer.StreamEnd(*state->result);
      if (state->result) Record(record, *state->result);
    }
    if (!out.empty() && !co_await ex.SendChunk(out)) {
      state->Cancel();  // the client went away or stopped reading
      co_return;
    }
    out.clear();
    if (done || aborted) {
      co_await ex.EndStream();
      co_return;
    }
    if (text.empty() && ex.PeerGone()) {
      state->Cancel();
      co_return;
    }
    co_await sleep();
  }
}

void RefuseQueued(ChatContext& ctx) {
  for (const auto& state : ctx.live) {
    if (state->handle && state->handle->queued() && state->ending == Ending::kNone) {
      state->ending = Ending::kRefused;
      state->Cancel();
      state->Wake();
    }
  }
}

void AbortRunning(ChatContext& ctx) {
  for (const auto& state : ctx.live) {
    if (state->ending == Ending::kNone) state->ending = Ending::kAborted;
    state->Cancel();
    state->Wake();
  }
}

void CancelAll(ChatContext& ctx) {
  for (const auto& state : ctx.live) state->Cancel();
}

}  // namespace qwenvl::server
