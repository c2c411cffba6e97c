// Each choice runs on the engine's threads; the coroutine on the event loop sleeps on a timer that
// the engine's callbacks of every choice cut short.
#include "server/generation.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <optional>

#include "server/api_error.h"
#include "server/sse.h"

namespace qwenvl::server {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

// How a drain ended a request before the engine did.
enum class Ending { kNone, kRefused, kAborted };

struct ChatRequestState {
  // Written by the engine's callbacks, read by the coroutine.
  std::mutex mu;
  std::string pending;                         // text streamed by the engine, not yet sent
  std::vector<TokenLogprob> pending_logprobs;  // the tokens whose text is in `pending`
  std::vector<TokenLogprob> unmatched;         // tokens chosen whose text has not come yet
  bool first_text = false;
  double first_text_seconds = 0;  // after submission
  bool done = false;
  // The latest progress report not sent yet (none once the first text came), and when a report
  // last woke the coroutine (reports wake it at most every kProgressInterval).
  std::optional<Progress> progress;
  bool any_progress = false;
  Clock::time_point progress_woke{};
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

using State = std::shared_ptr<ChatRequestState>;

constexpr auto kNoThrow = net::as_tuple(net::use_awaitable);
// How often a waiting request looks at its client's socket when nothing else wakes it.
constexpr auto kPeerCheck = std::chrono::milliseconds(500);
// Progress reports of one request sent at most this often (the last of a phase may wait for the
// next wake-up, or be overtaken by the next report or by the first text).
constexpr auto kProgressInterval = std::chrono::milliseconds(250);

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

ApiError ShuttingDown() {
  return ApiError(503, "the server is shutting down; retry on another instance", "",
                  "server_shutting_down", "server_error");
}

// Submits one choice and wires the callbacks; throws ApiError when the engine refuses.
State Start(Request request, const Generation& gen, ChatContext& ctx,
            const std::shared_ptr<net::steady_timer>& timer) {
  auto state = std::make_shared<ChatRequestState>();
  state->temp_files = gen.temp_files;
  state->loop = ctx.loop;
  state->timer = timer;
  Metrics& metrics = ctx.metrics;
  if (request.sampling.logprobs >= 0) {
    // Called before the token's text is streamed: the text that comes next completes it.
    request.on_token = [state](const TokenLogprob& token) {
      std::lock_guard lock(state->mu);
      state->unmatched.push_back(token);
    };
  }
  if (gen.stream && gen.format->streams_progress()) {
    request.on_progress = [state](const Progress& p) {
      bool wake = false;
      {
        std::lock_guard lock(state->mu);
        if (state->first_text) return;
        state->progress = p;
        state->any_progress = true;
        const auto now = Clock::now();
        if (now - state->progress_woke >= kProgressInterval) {
          state->progress_woke = now;
          wake = true;
        }
      }
      if (wake) state->Wake();
    };
  }
  auto on_text = [state, &metrics](std::string_view text) {
    {
      std::lock_guard lock(state->mu);
      if (!state->first_text) {
        state->first_text = true;
        state->progress.reset();  // no progress after the first text
        state->first_text_seconds = SecondsSince(state->submitted);
        metrics.FirstToken(state->first_text_seconds);
      }
      state->pending.append(text);
      for (auto& token : state->unmatched) state->pending_logprobs.push_back(std::move(token));
      state->unmatched.clear();
    }
    state->Wake();
    return !state->cancelled.load();
  };
  auto on_done = [state, &metrics](const Result* result, const Error* error) {
    {
      std::lock_guard lock(state->mu);
      const bool cancelled = result && result->finish_reason == FinishReason::kCancelled;
      metrics.Finished({.had_first_token = state->first_text,
                        .seconds = SecondsSince(state->submitted),
                        .first_token_seconds = state->first_text_seconds,
                        .prompt_tokens = result ? result->prompt_tokens : 0,
                        .completion_tokens = result ? result->completion_tokens : 0,
                        .cancelled = cancelled});
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
    state->handle = ctx.engine.Submit(std::move(request), on_text, on_done);
  } catch (const Error& e) {
    metrics.Finished({});
    if (e.code() == ErrorCode::kOutOfRange) {
      throw ApiError(429, std::string("the server is busy: ") + e.what(), "", "queue_full",
                     "rate_limit_error");
    }
    throw FromEngineError(e, gen.ParamOf(e));
  }
  ctx.live.insert(state);
  return state;
}

// Submits every choice, or none: when the engine refuses one, those already submitted are
// cancelled (their callbacks still come and release what they hold).
std::vector<State> StartAll(Generation& gen, ChatContext& ctx,
                            const std::shared_ptr<net::steady_timer>& timer) {
  std::vector<State> states;
  try {
    for (Request& request : gen.requests) {
      states.push_back(Start(std::move(request), gen, ctx, timer));
    }
  } catch (...) {
    for (const State& s : states) {
      s->Cancel();
      ctx.live.erase(s);
    }
    throw;
  }
  gen.temp_files.reset();  // the choices hold them now
  return states;
}

// Whether a drain ended the request: it refused or aborted it, and the engine has not finished it
// otherwise (the cancellation the drain asked for may already have come back as the result).
bool EndedByDrain(const ChatRequestState& s, bool done) {
  if (s.ending == Ending::kNone) return false;
  if (!done) return true;
  return !s.error && s.result && s.result->finish_reason == FinishReason::kCancelled;
}

// Token counts of the whole request: each prompt once (its first choice's), every answer.
Usage SumUsage(const std::vector<const Result*>& results, const std::vector<int>& prompt_of) {
  Usage usage;
  std::set<int> counted;
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = *results[i];
    usage.completion_tokens += r.completion_tokens;
    if (counted.insert(prompt_of[i]).second) {
      usage.prompt_tokens += r.prompt_tokens;
      usage.cached_tokens += r.cached_prompt_tokens;
    }
  }
  return usage;
}

void Record(AccessRecord& record, const Usage& usage) {
  record.prompt_tokens = usage.prompt_tokens;
  record.completion_tokens = usage.completion_tokens;
  record.cached_tokens = usage.cached_tokens;
}

// The choices' state as the coroutine decides from it.
struct Outlook {
  bool any_text = false;
  bool any_progress = false;  // a progress report came (the prompt was prepared)
  bool all_done = true;
  bool drained = false;  // a drain ended one of them
  int failed = -1;       // the first choice that ended with an error
};

Outlook Look(const std::vector<State>& states) {
  Outlook o;
  for (size_t i = 0; i < states.size(); ++i) {
    ChatRequestState& s = *states[i];
    bool done;
    {
      std::lock_guard lock(s.mu);
      done = s.done;
      o.any_text = o.any_text || s.first_text;
      o.any_progress = o.any_progress || s.any_progress;
      if (done && s.error && o.failed < 0) o.failed = static_cast<int>(i);
    }
    o.all_done = o.all_done && done;
    o.drained = o.drained || EndedByDrain(s, done);
  }
  return o;
}

std::vector<const Result*> Results(const std::vector<State>& states) {
  std::vector<const Result*> results;
  for (const State& s : states) results.push_back(&*s->result);
  return results;
}

// An AnswerWriter (one choice, its own framing) as an AnswerFormat: its end is the stream's last
// bytes.
class WriterFormat final : public AnswerFormat {
 public:
  explicit WriterFormat(AnswerWriter& writer) : writer_(writer) {}
  json Whole(const std::vector<const Result*>& results, const Usage&) override {
    return writer_.Whole(*results.at(0));
  }
  std::string_view stream_type() const override { return writer_.stream_type(); }
  std::string Opening() override { return writer_.StreamBegin(); }
  std::string Piece(int, const std::string& text, const std::vector<TokenLogprob>&) override {
    return writer_.StreamText(text);
  }
  std::string Ending(int, const Result& result, const std::vector<TokenLogprob>&) override {
    return writer_.StreamEnd(result);
  }
  std::string Closing(const Usage&, bool) override { return ""; }
  std::string StreamError(const ApiError& error) override { return writer_.StreamError(error); }

 protected:
  std::string UsageEvent(const Usage&) override { return ""; }

 private:
  AnswerWriter& writer_;
};

// Submits the choices and answers them.
net::awaitable<void> Answer(HttpExchange& ex, ChatContext& ctx, Generation gen);

net::awaitable<Generation> ParseOnPool(const ChatContext& ctx,
                                       const std::function<Generation()>& parse) {
  co_return co_await net::co_spawn(
      ctx.parse_executor, [&parse]() -> net::awaitable<Generation> { co_return parse(); },
      net::use_awaitable);
}

}  // namespace

std::string AnswerFormat::Closing(const Usage& usage, bool include_usage) {
  return (include_usage ? UsageEvent(usage) : std::string()) + SseDone();
}

std::string AnswerFormat::StreamError(const ApiError& error) {
  return SseEvent(error.ToJson()) + SseDone();
}

std::string Generation::ParamOf(const Error& error) const {
  // "media[K].NAME"
  const std::string& field = error.field();
  const size_t close = field.find("].");
  if (field.rfind("media[", 0) != 0 || close == std::string::npos) return input_param;
  size_t k = 0;
  try {
    k = std::stoul(field.substr(6, close - 6));
  } catch (const std::exception&) {
    return input_param;
  }
  if (k >= media_fields.size()) return input_param;
  const auto it = media_fields[k].find(field.substr(close + 2));
  return it == media_fields[k].end() ? input_param : it->second;
}

void Generation::AddChoices(Request request, int n, int prompt) {
  const std::optional<uint64_t> seed = request.sampling.seed;
  for (int k = 0; k < n; ++k) {
    // The last choice takes the request itself (its pictures are not copied once more).
    requests.push_back(k + 1 < n ? request : std::move(request));
    if (seed) requests.back().sampling.seed = *seed + static_cast<uint64_t>(k);
    prompt_of.push_back(prompt);
  }
}

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

net::awaitable<void> RunGeneration(HttpExchange& ex, ChatContext& ctx,
                                   std::function<Generation()> parse) {
  std::optional<Generation> gen;
  std::optional<ApiError> failure;
  try {
    gen = co_await ParseOnPool(ctx, parse);
  } catch (...) {
    failure = FailureOf(std::current_exception());
  }
  if (failure) {
    co_await RefuseGeneration(ex, ctx, *failure);
    co_return;
  }
  co_await Answer(ex, ctx, std::move(*gen));
}

net::awaitable<void> AnswerGeneration(HttpExchange& ex, ChatContext& ctx, ChatRequest chat,
                                      AnswerWriter& writer) {
  Generation gen;
  gen.stream = chat.stream;
  gen.include_usage = chat.include_usage;
  gen.temp_files = std::move(chat.temp_files);
  gen.media_fields = std::move(chat.media_fields);
  gen.AddChoices(std::move(chat.request), chat.n, 0);
  gen.format = std::make_unique<WriterFormat>(writer);
  co_await Answer(ex, ctx, std::move(gen));
}

namespace {

net::awaitable<void> Answer(HttpExchange& ex, ChatContext& ctx, Generation gen) {
  AccessRecord& record = ex.record();
  std::vector<State> states;
  auto timer = std::make_shared<net::steady_timer>(ex.executor());
  std::optional<ApiError> failure;
  try {
    if (ctx.draining) throw ShuttingDown();
    states = StartAll(gen, ctx, timer);
  } catch (...) {
    failure = FailureOf(std::current_exception());
  }
  if (failure) {
    co_await RefuseGeneration(ex, ctx, *failure);
    co_return;
  }
  struct Forget {  // however this coroutine ends, the drain stops tracking the choices
    ChatContext& ctx;
    const std::vector<State>& states;
    ~Forget() {
      for (const State& s : states) ctx.live.erase(s);
    }
  } forget{ctx, states};
  const auto cancel_all = [&states] {
    for (const State& s : states) s->Cancel();
  };
  const auto sleep = [&]() -> net::awaitable<void> {
    timer->expires_after(kPeerCheck);
    co_await timer->async_wait(kNoThrow);
  };
  AnswerFormat& format = *gen.format;

  // Until the response starts, the only sign of a client that left is its socket.
  Outlook o;
  for (;;) {
    o = Look(states);
    if (o.drained || o.failed >= 0 || o.all_done || (gen.stream && o.any_text)) break;
    if (gen.stream && format.streams_progress() && o.any_progress) break;
    if (ex.PeerGone()) {
      cancel_all();
      record.status = 499;  // "client closed request": nobody reads the answer
      ctx.metrics.CountRequest(499);
      co_return;
    }
    co_await sleep();
  }
  if (o.drained) {
    // Refused while queued, or a non-streamed answer that ran out of the drain's time.
    cancel_all();
    ex.close_after();
    co_await ex.SendError(ShuttingDown());
    ctx.metrics.CountRequest(503);
    co_return;
  }
  if (o.failed >= 0) {
    cancel_all();
    const ApiError e = FromEngineError(*states[static_cast<size_t>(o.failed)]->error,
                                       gen.ParamOf(*states[static_cast<size_t>(o.failed)]->error));
    co_await ex.SendError(e);
    ctx.metrics.CountRequest(e.status());
    co_return;
  }
  if (!gen.stream) {
    const auto results = Results(states);
    const Usage usage = SumUsage(results, gen.prompt_of);
    Record(record, usage);
    co_await ex.SendJson(200, format.Whole(results, usage));
    ctx.metrics.CountRequest(200);
    co_return;
  }

  ctx.metrics.CountRequest(200);
  if (!co_await ex.BeginStream(200, format.stream_type())) {
    cancel_all();
    co_return;
  }
  // The progress so far goes before the opening: a client that shows it sees it first.
  std::string out;
  std::vector<Clock::time_point> progress_sent(states.size());
  const auto take_progress = [&](size_t i) {
    ChatRequestState& s = *states[i];
    std::optional<Progress> p;
    {
      std::lock_guard lock(s.mu);
      if (!s.progress || Clock::now() - progress_sent[i] < kProgressInterval) return;
      p.swap(s.progress);
    }
    progress_sent[i] = Clock::now();
    out += format.ProgressReport(*p);
  };
  for (size_t i = 0; i < states.size(); ++i) take_progress(i);
  out += format.Opening();
  std::vector<bool> ended(states.size(), false);
  std::vector<size_t> logprobs_sent(states.size(), 0);
  for (;;) {
    bool any_text = false, all_ended = true, drained = false;
    int failed = -1;
    for (size_t i = 0; i < states.size(); ++i) {
      ChatRequestState& s = *states[i];
      const int index = static_cast<int>(i);
      std::string text;
      std::vector<TokenLogprob> logprobs, unmatched;
      bool done;
      take_progress(i);
      {
        std::lock_guard lock(s.mu);
        text.swap(s.pending);
        logprobs.swap(s.pending_logprobs);
        done = s.done;
        if (done) unmatched.swap(s.unmatched);
      }
      if (!text.empty()) {
        any_text = true;
        logprobs_sent[i] += logprobs.size();
        out += format.Piece(index, text, logprobs);
      }
      if (EndedByDrain(s, done)) {
        drained = true;
      } else if (done && !ended[i]) {
        if (s.error) {
          if (failed < 0) failed = index;
        } else {
          // The answer's tokens are those of the result; an end-of-text token reported before
          // the end is not one of them.
          const size_t total = s.result->logprobs.size();
          unmatched.resize(
              std::min(unmatched.size(), total > logprobs_sent[i] ? total - logprobs_sent[i] : 0));
          out += format.Ending(index, *s.result, unmatched);
          ended[i] = true;
        }
      }
      all_ended = all_ended && ended[i];
    }
    bool finished = true;
    if (drained) {
      cancel_all();
      out += format.StreamError(ShuttingDown());
      ex.close_after();
    } else if (failed >= 0) {
      cancel_all();
      out += format.StreamError(
          FromEngineError(*states[static_cast<size_t>(failed)]->error,
                          gen.ParamOf(*states[static_cast<size_t>(failed)]->error)));
    } else if (all_ended) {
      const Usage usage = SumUsage(Results(states), gen.prompt_of);
      out += format.Closing(usage, gen.include_usage);
      Record(record, usage);
    } else {
      finished = false;
    }
    if (!out.empty() && !co_await ex.SendChunk(out)) {
      cancel_all();  // the client went away or stopped reading
      co_return;
    }
    out.clear();
    if (finished) {
      co_await ex.EndStream();
      co_return;
    }
    if (!any_text && ex.PeerGone()) {
      cancel_all();
      co_return;
    }
    co_await sleep();
  }
}

}  // namespace

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
