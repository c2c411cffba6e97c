// Chat answers in OpenAI's shapes: chat.completion objects and chat.completion.chunk events, the
// chosen tokens' logprobs in choices[i].logprobs.content, function calls in tool_calls.
#include "server/chat_handler.h"

#include "server/sse.h"
#include "server/tool_calls.h"

namespace qwenvl::server {
namespace {

using nlohmann::json;

class ChatFormat : public AnswerFormat {
 public:
  // tool_calls: tools were offered, so <tool_call> blocks in an answer become tool_calls.
  ChatFormat(CompletionMeta meta, bool logprobs, int choices, bool tool_calls)
      : meta_(std::move(meta)),
        logprobs_(logprobs),
        tool_calls_(tool_calls),
        choices_(static_cast<size_t>(choices)) {}

  json Whole(const std::vector<const Result*>& results, const Usage& usage) override {
    json j = CompletionJson(meta_, results, usage, logprobs_);
    if (!tool_calls_) return j;
    for (size_t i = 0; i < results.size(); ++i) {
      const ParsedAnswer answer = ParseToolCalls(results[i]->text);
      if (answer.calls.empty()) continue;
      json& choice = j["choices"][i];
      choice["message"]["content"] = answer.content.empty() ? json(nullptr) : json(answer.content);
      json calls = json::array();
      for (const ToolCall& c : answer.calls) calls.push_back(CallJson(c, -1));
      choice["message"]["tool_calls"] = std::move(calls);
      choice["finish_reason"] = "tool_calls";
    }
    return j;
  }
  // Progress as SSE comments (SseProgressComment): OpenAI's clients skip them.
  bool streams_progress() const override { return true; }
  std::string ProgressReport(const Progress& p) override { return SseProgressComment(p); }
  // OpenAI opens each choice with its role.
  std::string Opening() override {
    std::string out;
    for (size_t i = 0; i < choices_.size(); ++i) {
      out += SseEvent(ChunkJson(meta_, {{"role", "assistant"}, {"content", ""}}, nullptr, nullptr,
                                static_cast<int>(i)));
    }
    return out;
  }
  std::string Piece(int index, const std::string& text,
                    const std::vector<TokenLogprob>& logprobs) override {
    if (!tool_calls_) return Chunk(index, {{"content", text}}, logprobs);
    // Text inside a <tool_call> block waits for its end: its tokens' logprobs go with the next
    // chunk of this choice.
    Choice& c = choices_[static_cast<size_t>(index)];
    c.held.insert(c.held.end(), logprobs.begin(), logprobs.end());
    std::vector<ToolCall> calls;
    const std::string content = c.calls.Push(text, &calls);
    std::string out;
    if (!content.empty()) out += Chunk(index, {{"content", content}}, Take(c));
    for (const ToolCall& call : calls) {
      out += Chunk(index, {{"tool_calls", json::array({CallJson(call, c.streamed_calls++)})}},
                   Take(c));
    }
    return out;
  }
  std::string Ending(int index, const Result& result,
                     const std::vector<TokenLogprob>& logprobs) override {
    Choice& c = choices_[static_cast<size_t>(index)];
    std::string out;
    if (tool_calls_) {
      std::vector<ToolCall> calls;
      const std::string content = c.calls.Flush(&calls);  // an unfinished call stays text
      if (!content.empty()) out += Chunk(index, {{"content", content}}, Take(c));
    }
    c.held.insert(c.held.end(), logprobs.begin(), logprobs.end());
    const std::vector<TokenLogprob> rest = Take(c);
    const char* finish =
        c.streamed_calls > 0 ? "tool_calls" : OpenAiFinishReason(result.finish_reason);
    return out +
           SseEvent(ChunkJson(meta_, json::object(), finish, QwenvlExtraJson(result), index,
                              logprobs_ && !rest.empty() ? ChatLogprobsJson(rest) : json(nullptr)));
  }

 protected:
  std::string UsageEvent(const Usage& usage) override {
    return SseEvent(UsageChunkJson(meta_, usage));
  }

 private:
  struct Choice {
    ToolCallStream calls;
    int streamed_calls = 0;
    std::vector<TokenLogprob> held;  // logprobs of text not yet sent
  };

  // A call as OpenAI writes it; streamed deltas carry their index.
  static json CallJson(const ToolCall& c, int index) {
    json j = {{"id", c.id},
              {"type", "function"},
              {"function", {{"name", c.name}, {"arguments", c.arguments}}}};
    if (index >= 0) j["index"] = index;
    return j;
  }
  static std::vector<TokenLogprob> Take(Choice& c) { return std::exchange(c.held, {}); }
  std::string Chunk(int index, const json& delta, const std::vector<TokenLogprob>& logprobs) {
    return SseEvent(ChunkJson(meta_, delta, nullptr, nullptr, index,
                              logprobs_ ? ChatLogprobsJson(logprobs) : json(nullptr)));
  }

  CompletionMeta meta_;
  bool logprobs_;
  bool tool_calls_;
  std::vector<Choice> choices_;
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
    gen.media_fields = std::move(chat.media_fields);
    const bool logprobs = chat.request.sampling.logprobs >= 0;
    gen.AddChoices(std::move(chat.request), chat.n, 0);
    // The answer names the model as the request did (a client may send a name of its own).
    gen.format = std::make_unique<ChatFormat>(
        NewCompletionMeta(chat.model.empty() ? ctx.schema.model_name : chat.model), logprobs,
        chat.n, chat.tool_calls);
    return gen;
  });
}

}  // namespace qwenvl::server
