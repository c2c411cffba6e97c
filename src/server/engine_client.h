// The server's view of the engine: submit a request, stream its text, learn how it ended.
// The engine in production (MakeEngineClient), scripted in the unit tests, so that the HTTP
// layer can be tested without a model.
#pragma once

#include <memory>
#include <string>

#include "qwenvl/engine.h"

namespace qwenvl::server {

class EngineClient {
 public:
  virtual ~EngineClient() = default;
  // Same contract as Engine::Submit: thread-safe, callbacks on an engine thread, throws
  // Error(kOutOfRange) when the queue is full, exactly one DoneCallback per accepted request.
  virtual std::shared_ptr<RequestHandle> Submit(Request request, StreamCallback on_text,
                                                DoneCallback on_done) = 0;
  virtual std::string model_name() const = 0;
  virtual int64_t context_length() const = 0;
  // The model's tokenizer and template (Engine's members of the same names).
  virtual std::vector<TokenId> Tokenize(std::string_view text) const = 0;
  virtual std::string Detokenize(const std::vector<TokenId>& ids,
                                 bool skip_special_tokens) const = 0;
  virtual std::string TokenBytes(TokenId id) const = 0;
  virtual std::string RenderPrompt(const Request& request) const = 0;
  virtual int64_t vocab_size() const = 0;  // token ids are in [0, vocab_size)
  // Requests Submit accepts at once into an empty queue (EngineOptions::max_queued).
  virtual int queue_capacity() const = 0;
  // False while the model loads: the server then answers 503 "loading" (LoadingEngineClient).
  virtual bool ready() const { return true; }
  // The engine's gauges and counters for /metrics (zeros where there is no engine).
  virtual EngineStats stats() const { return {}; }
};

// Takes ownership of a loaded engine.
std::unique_ptr<EngineClient> MakeEngineClient(std::unique_ptr<Engine> engine);

}  // namespace qwenvl::server
