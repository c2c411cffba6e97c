// Chat answers in OpenAI's shapes: chat.completion objects and chat.completion.chunk events, the
// chosen tokens' logprobs in choices[i].logprobs.content.
#include "server/chat_handler.h"

#include "server/sse.h"

namespace qwenvl::server {
namespace {

using nlohmann::json;

class ChatFormat : public AnswerFormat {
 public:
  ChatFormat(CompletionMeta meta, bool logprobs, int choices)
      : meta_(std::move(meta)), logprobs_(logprobs), choices_(choices) {}

  json Whole(const std::vector<const Result*>& results, const Usage& usage) override {
    return CompletionJson(meta_, results, usage, logprobs_);
  }
  // OpenAI opens each choice with its role.
  std::string Opening() override {
    std::string out;
    for (int i = 0; i < choices_; ++i) {
      out +=
          SseEvent(ChunkJson(meta_, {{"role", "assistant"}, {"content", ""}}, nullptr, nullptr, i));
    }
    return out;
  }
  std::string Piece(int index, const std::string& text,
                    const std::vector<TokenLogprob>& logprobs) override {
    return SseEvent(ChunkJson(meta_, {{"content", text}}, nullptr, nullptr, index,
                              logprobs_ ? ChatLogprobsJson(logprobs) : json(nullptr)));
  }
  std::string Ending(int index, const Result& result,
                     const std::vector<TokenLogprob>& logprobs) override {
    return SseEvent(ChunkJson(
        meta_, json::object(), OpenAiFinishReason(result.finish_reason), QwenvlExtraJson(result),
        index, logprobs_ && !logprobs.empty() ? ChatLogprobsJson(logprobs) : json(nullptr)));
  }

 protected:
  std::string UsageEvent(const Usage& usage) override {
    return SseEvent(UsageChunkJson(meta_, usage));
  }

 private:
  CompletionMeta meta_;
  bool logprobs_;
  int choices_;
};

}  // namespace

boost::asio::awaitable<void> HandleChatCompletion(HttpExchange& ex, ChatContext& ctx) {
  const std::string& body = ex.request().body();
  co_await RunGeneration(ex, ctx, [&body, &ctx] {
    ChatRequest chat = ParseChatRequest(body, ctx.schema);
    Generation gen;
    gen.stream = chat.stream;
    gen.include_usage = chat.include_usage;
    gen.temp_files = std::move(chat.temp_files);
    const bool logprobs = chat.request.sampling.logprobs >= 0;
    gen.AddChoices(std::move(chat.request), chat.n, 0);
    // The answer names the model as the request did (a client may send a name of its own).
    gen.format = std::make_unique<ChatFormat>(
        NewCompletionMeta(chat.model.empty() ? ctx.schema.model_name : chat.model), logprobs,
        chat.n);
    return gen;
  });
}

}  // namespace qwenvl::server
