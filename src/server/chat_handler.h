// The body of POST /v1/chat/completions: parse (off the event loop), submit, then answer whole or
// as server-sent events. A request waits on the event loop without holding a thread: the engine's
// callbacks record text and wake the waiting coroutine. The submitting, waiting, streaming and
// cancelling are AnswerGeneration's, which the other generation endpoints (ollama's) share.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <exception>
#include <memory>
#include <mutex>
#include <set>

#include "server/answer_writer.h"
#include "server/engine_client.h"
#include "server/http_exchange.h"
#include "server/metrics.h"
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

struct ChatRequestState;  // one request's progress, shared with the engine's callbacks

// What the handler needs from the server; outlives every request it serves.
struct ChatContext {
  EngineClient& engine;
  Metrics& metrics;
  SchemaOptions schema;
  boost::asio::any_io_executor parse_executor;  // a thread pool for ParseChatRequest
  std::shared_ptr<LoopLink> loop;
  bool draining = false;  // event-loop thread only
  // Requests submitted and not answered, so that a drain can refuse the queued ones and end the
  // running ones. Event-loop thread only.
  std::set<std::shared_ptr<ChatRequestState>> live;
};

boost::asio::awaitable<void> HandleChatCompletion(HttpExchange& exchange, ChatContext& ctx);

// Submits a parsed request and answers it, whole or streamed (chat.stream) as `writer` words it.
// Errors found before the answer begins get their status and the exchange's error body; a client
// that leaves cancels the request; a drain refuses or ends it.
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
