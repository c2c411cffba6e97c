#include "server/loading_engine_client.h"

namespace qwenvl::server {
namespace {

// The server sets its limits (max_tokens, prompt sizes) from the context length when it starts,
// before the model is loaded: the length the load will choose is worked out from the config.
EngineOptions WithContextLength(EngineOptions options) {
  options.context_length = Engine::ContextLengthFor(options);
  return options;
}

}  // namespace

LoadingEngineClient::LoadingEngineClient(EngineOptions options,
                                         std::function<void(std::exception_ptr)> on_loaded)
    : options_(WithContextLength(std::move(options))) {
  loader_ = std::thread([this, on_loaded = std::move(on_loaded)] {
    std::exception_ptr failure;
    try {
      owned_ = Engine::Load(options_);
      engine_.store(owned_.get());
    } catch (...) {
      failure = std::current_exception();
    }
    if (on_loaded) on_loaded(failure);
  });
}

LoadingEngineClient::~LoadingEngineClient() { loader_.join(); }

Engine& LoadingEngineClient::Loaded() const {
  Engine* e = engine_.load();
  if (e == nullptr) throw Error(ErrorCode::kInternal, "the model is still loading");
  return *e;
}

EngineStats LoadingEngineClient::stats() const {
  const Engine* e = engine_.load();
  return e ? e->stats() : EngineStats{};
}

std::shared_ptr<RequestHandle> LoadingEngineClient::Submit(Request request, StreamCallback on_text,
                                                           DoneCallback on_done) {
  return Loaded().Submit(std::move(request), std::move(on_text), std::move(on_done));
}
std::vector<TokenId> LoadingEngineClient::Tokenize(std::string_view text) const {
  return Loaded().Tokenize(text);
}
std::string LoadingEngineClient::Detokenize(const std::vector<TokenId>& ids,
                                            bool skip_special_tokens) const {
  return Loaded().Detokenize(ids, skip_special_tokens);
}
std::string LoadingEngineClient::TokenBytes(TokenId id) const { return Loaded().TokenBytes(id); }
std::string LoadingEngineClient::RenderPrompt(const Request& request) const {
  return Loaded().RenderPrompt(request);
}
int64_t LoadingEngineClient::vocab_size() const { return Loaded().vocab_size(); }
std::string LoadingEngineClient::model_name() const {
  return Engine::FolderModelName(options_.model_dir);
}

}  // namespace qwenvl::server
