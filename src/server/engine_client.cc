// The production EngineClient: a loaded qwenvl::Engine (its scheduler batches the submitted
// requests).
#include "server/engine_client.h"

namespace qwenvl::server {
namespace {

class LocalEngineClient : public EngineClient {
 public:
  explicit LocalEngineClient(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {}

  std::shared_ptr<RequestHandle> Submit(Request request, StreamCallback on_text,
                                        DoneCallback on_done) override {
    return engine_->Submit(std::move(request), std::move(on_text), std::move(on_done));
  }
  std::string model_name() const override { return engine_->model_name(); }
  int64_t context_length() const override { return engine_->options().context_length; }
  std::vector<TokenId> Tokenize(std::string_view text) const override {
    return engine_->Tokenize(text);
  }
  std::string Detokenize(const std::vector<TokenId>& ids, bool skip_special_tokens) const override {
    return engine_->Detokenize(ids, skip_special_tokens);
  }
  std::string TokenBytes(TokenId id) const override { return engine_->TokenBytes(id); }
  std::string RenderPrompt(const Request& request) const override {
    return engine_->RenderPrompt(request);
  }
  int64_t vocab_size() const override { return engine_->vocab_size(); }
  int queue_capacity() const override { return engine_->options().max_queued; }
  EngineStats stats() const override { return engine_->stats(); }

 private:
  std::unique_ptr<Engine> engine_;
};

}  // namespace

std::unique_ptr<EngineClient> MakeEngineClient(std::unique_ptr<Engine> engine) {
  return std::make_unique<LocalEngineClient>(std::move(engine));
}

}  // namespace qwenvl::server
