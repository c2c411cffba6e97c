// An EngineClient whose model loads on a thread of its own while the server already listens, so
// that a load balancer or an orchestrator polling /health sees "loading" (503) instead of a refused
// connection, and learns the moment the replica can take requests.
#pragma once

#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "server/engine_client.h"

namespace qwenvl::server {

class LoadingEngineClient : public EngineClient {
 public:
  // Starts loading at once (a config.json that cannot give the context length throws Error here).
  // on_loaded runs on the loading thread when the load ends: with null, or
  // with the exception Engine::Load threw (the client then stays not ready).
  LoadingEngineClient(EngineOptions options, std::function<void(std::exception_ptr)> on_loaded);
  ~LoadingEngineClient() override;  // waits for a load in progress to end

  bool ready() const override { return engine_.load() != nullptr; }
  EngineStats stats() const override;
  // Until ready(), these throw Error(kInternal) (the server does not route to them before):
  std::shared_ptr<RequestHandle> Submit(Request request, StreamCallback on_text,
                                        DoneCallback on_done) override;
  std::vector<TokenId> Tokenize(std::string_view text) const override;
  std::string Detokenize(const std::vector<TokenId>& ids, bool skip_special_tokens) const override;
  std::string TokenBytes(TokenId id) const override;
  std::string RenderPrompt(const Request& request) const override;
  int64_t vocab_size() const override;
  // Known from the options before the load.
  std::string model_name() const override;
  int64_t context_length() const override { return options_.context_length; }
  int queue_capacity() const override { return options_.max_queued; }
  // The loaded engine (null before), for the load time and the name it reports.
  const Engine* engine() const { return engine_.load(); }

 private:
  Engine& Loaded() const;
  const EngineOptions options_;
  std::unique_ptr<Engine> owned_;         // written once by the loading thread
  std::atomic<Engine*> engine_{nullptr};  // published after owned_ is set
  std::thread loader_;
};

}  // namespace qwenvl::server
