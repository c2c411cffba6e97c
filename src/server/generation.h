// One HTTP request's generations, whatever the endpoint: its choices (n of them, times the prompts
// of a text completion) are submitted to the engine together, waited for on the event loop without
// holding a thread, and answered whole or as server-sent events through the endpoint's
// AnswerFormat. The engine's callbacks record text and wake the waiting coroutine.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "server/answer_writer.h"
#include "server/api_error.h"
#include "server/engine_client.h"
#include "server/http_exchange.h"
#include "server/media_source.h"
#include "server/metrics.h"
#include "server/openai_response.h"
#include "server/openai_schema.h"

namespace qwenvl::server {

// Posts wake-ups to the event loop for as long as it exists; the server turns it off before the
// loop goes, so an engine callback that comes late posts nothing.
class LoopLink {
 public:
  explicit LoopLink(boost::asio::any_io_executor executor) : executor_(std::move(executor)) {}
  template <class F>
  void Post(F&& f);
  void Close() {
    std::lock_guard lock(mu_);
    open_ = false;
  }

 private:
  std::mutex mu_;
  bool open_ = true;
  boost::asio::any_io_executor executor_;
};

template <class F>
void LoopLink::Post(F&& f) {
  std::lock_guard lock(mu_);
  if (open_) boost::asio::post(executor_, std::forward<F>(f));
}

struct ChatRequestState;  // one engine request's progress, shared with the engine's callbacks

// What the generation endpoints need from the server; outlives every request they serve.
struct ChatContext {
  EngineClient& engine;
  Metrics& metrics;
  SchemaOptions schema;
  boost::asio::any_io_executor parse_executor;  // a thread pool for parsing request bodies
  std::shared_ptr<LoopLink> loop;
  bool draining = false;  // event-loop thread only
  // Engine requests submitted and not answered, so that a drain can refuse the queued ones and
  // end the running ones. Event-loop thread only.
  std::set<std::shared_ptr<ChatRequestState>> live;
};

// How an endpoint words its answer; called on the event loop. The defaults of the stream's framing
// are OpenAI's server-sent events; another API (ollama's newline-delimited JSON) overrides them.
class AnswerFormat {
 public:
  virtual ~AnswerFormat() = default;
  // The whole answer: each choice's Result in choice order, and the request's token counts.
  virtual nlohmann::json Whole(const std::vector<const Result*>& results, const Usage& usage) = 0;
  // The Content-Type of a stream.
  virtual std::string_view stream_type() const { return "text/event-stream"; }
  // Streamed, the events before any text (chat: each choice's role).
  virtual std::string Opening() = 0;
  // Whether a stream reports the progress of the vision encoding and the prefill before the first
  // text (then it begins once the prompt was prepared: errors found after that end the stream with
  // an error event instead of a 4xx status), and the bytes of one report. None by default.
  virtual bool streams_progress() const { return false; }
  virtual std::string ProgressReport(const Progress&) { return ""; }
  // A piece of choice `index`'s text, with the logprobs of the tokens it completes (empty when
  // none were asked for).
  virtual std::string Piece(int index, const std::string& text,
                            const std::vector<TokenLogprob>& logprobs) = 0;
  // The end of choice `index`, with the logprobs of its tokens whose text never came (a stop
  // string's).
  virtual std::string Ending(int index, const Result& result,
                             const std::vector<TokenLogprob>& logprobs) = 0;
  // The last bytes of a stream whose choices all ended: the usage chunk when it was asked for
  // (stream_options.include_usage), then "data: [DONE]".
  virtual std::string Closing(const Usage& usage, bool include_usage);
  // The last bytes of a stream that an error ends (an engine error after the stream began, or the
  // drain's deadline).
  virtual std::string StreamError(const ApiError& error);

 protected:
  // OpenAI's usage chunk (its "object" differs between chat and text completions).
  virtual std::string UsageEvent(const Usage& usage) = 0;
};

struct Generation {
  std::vector<Request> requests;  // one per choice, in choice order
  std::vector<int> prompt_of;     // each choice's prompt: usage counts every prompt once
  bool stream = false;
  bool include_usage = false;
  std::shared_ptr<TempFiles> temp_files;  // kept until every choice is done
  std::string input_param = "messages";   // what an engine's refusal of the input names
  // Per media item in prompt order: budget key -> its JSON field (ChatRequest::media_fields).
  std::vector<std::map<std::string, std::string>> media_fields;
  std::unique_ptr<AnswerFormat> format;

  // Appends n choices of `request` for prompt `prompt`. With a seed, choice k gets seed + k
  // (modulo 2^64), so that the n answers differ and each can be reproduced.
  void AddChoices(Request request, int n, int prompt);
  // The field an engine refusal names: the client's JSON field of the media budget the error is
  // about (Error::field), else input_param.
  std::string ParamOf(const Error& error) const;
};

// Parses the body with `parse` on the parse executor (base64 payloads, remote fetches and
// tokenization take time the event loop must not spend), submits every choice, and answers.
// `parse` throws ApiError for a bad request.
//
// A client that leaves cancels every choice; a choice the engine refuses (queue full: 429) cancels
// those already submitted; a choice that fails ends the answer with its error. A streamed answer
// only commits to "200 OK" once some text arrived (or all ended), so that errors found while
// preparing the prompt (a bad picture, a prompt over the context) still get their 4xx status.
boost::asio::awaitable<void> RunGeneration(HttpExchange& exchange, ChatContext& ctx,
                                           std::function<Generation()> parse);

// The same for a request parsed already (chat.n choices), worded by an AnswerWriter of one
// choice with its own framing (ollama's API).
boost::asio::awaitable<void> AnswerGeneration(HttpExchange& exchange, ChatContext& ctx,
                                              ChatRequest chat, AnswerWriter& writer);
// Answers a generation request refused before it was submitted, and counts it.
boost::asio::awaitable<void> RefuseGeneration(HttpExchange& exchange, ChatContext& ctx,
                                              const ApiError& error);
// The error a request handler caught: an ApiError as it is, an engine Error in its HTTP form,
// anything else a 500.
ApiError FailureOf(std::exception_ptr failure);

// Drain, first step: requests still waiting in the engine's queue are answered 503 at once.
void RefuseQueued(ChatContext& ctx);
// Drain, last step: running requests are cancelled; streams end with an error event and [DONE],
// non-streamed answers get 503.
void AbortRunning(ChatContext& ctx);
// Cancels every live request (the server is stopping now).
void CancelAll(ChatContext& ctx);

}  // namespace qwenvl::server
