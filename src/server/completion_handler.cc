// Text completions in OpenAI's legacy shapes: choices[{text, index, logprobs, finish_reason}], the
// logprobs as parallel lists (tokens, token_logprobs, top_logprobs, text_offset).
#include "server/completion_handler.h"

#include "server/completion_schema.h"
#include "server/sse.h"

namespace qwenvl::server {
namespace {

using nlohmann::json;

// Unicode characters in UTF-8 bytes (the bytes that do not continue a character).
int64_t CharacterCount(std::string_view bytes) {
  int64_t n = 0;
  for (const char c : bytes) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// The legacy logprobs of `tokens`; `offset` is where the first one starts in the choice's text, in
// characters, and is moved past them. Each top_logprobs entry maps token texts to logprobs: the
// chosen token and its alternatives (up to logprobs + 1 entries, as OpenAI's).
json LegacyLogprobsJson(const std::vector<TokenLogprob>& tokens, int64_t& offset) {
  json texts = json::array(), logprobs = json::array(), top = json::array(),
       offsets = json::array();
  for (const TokenLogprob& token : tokens) {
    const std::string text = TokenText(token);
    texts.push_back(text);
    logprobs.push_back(JsonLogprob(token.logprob));
    json alternatives = {{text, JsonLogprob(token.logprob)}};
    for (const TokenLogprob& alternative : token.top) {
      const std::string key = TokenText(alternative);
      if (!alternatives.contains(key)) alternatives[key] = JsonLogprob(alternative.logprob);
    }
    top.push_back(std::move(alternatives));
    offsets.push_back(offset);
    offset += CharacterCount(token.text);
  }
  return {{"tokens", std::move(texts)},
          {"token_logprobs", std::move(logprobs)},
          {"top_logprobs", std::move(top)},
          {"text_offset", std::move(offsets)}};
}

class CompletionFormat : public AnswerFormat {
 public:
  // `echo`: each choice's prompt text to put before its answer ("" without echo).
  CompletionFormat(CompletionMeta meta, std::vector<std::string> echo, bool logprobs)
      : meta_(std::move(meta)), echo_(std::move(echo)), logprobs_(logprobs) {
    for (const std::string& text : echo_) offsets_.push_back(CharacterCount(text));
  }

  json Whole(const std::vector<const Result*>& results, const Usage& usage) override {
    json choices = json::array();
    for (size_t i = 0; i < results.size(); ++i) {
      const Result& r = *results[i];
      int64_t offset = CharacterCount(echo_[i]);
      choices.push_back(Choice(static_cast<int>(i), echo_[i] + r.text,
                               logprobs_ ? LegacyLogprobsJson(r.logprobs, offset) : json(nullptr),
                               OpenAiFinishReason(r.finish_reason)));
    }
    json out = Object("text_completion");
    out["choices"] = std::move(choices);
    out["usage"] = UsageJson(usage);
    return out;
  }
  // With echo, each choice's stream starts with its prompt.
  std::string Opening() override {
    std::string out;
    for (size_t i = 0; i < echo_.size(); ++i) {
      if (!echo_[i].empty()) out += Chunk(Choice(static_cast<int>(i), echo_[i], nullptr, nullptr));
    }
    return out;
  }
  std::string Piece(int index, const std::string& text,
                    const std::vector<TokenLogprob>& logprobs) override {
    return Chunk(Choice(index, text, Logprobs(index, logprobs), nullptr));
  }
  std::string Ending(int index, const Result& result,
                     const std::vector<TokenLogprob>& logprobs) override {
    return Chunk(Choice(index, "", logprobs.empty() ? json(nullptr) : Logprobs(index, logprobs),
                        OpenAiFinishReason(result.finish_reason)));
  }

 protected:
  std::string UsageEvent(const Usage& usage) override {
    return SseEvent(UsageChunkJson(meta_, usage, "text_completion"));
  }

 private:
  json Object(const char* object) const {
    return {
        {"id", meta_.id}, {"object", object}, {"created", meta_.created}, {"model", meta_.model}};
  }
  static json Choice(int index, const std::string& text, json logprobs, const char* finish) {
    return {{"text", text},
            {"index", index},
            {"logprobs", std::move(logprobs)},
            {"finish_reason", finish ? json(finish) : json(nullptr)}};
  }
  std::string Chunk(json choice) const {
    json chunk = Object("text_completion");
    chunk["choices"] = json::array({std::move(choice)});
    return SseEvent(chunk);
  }
  json Logprobs(int index, const std::vector<TokenLogprob>& logprobs) {
    if (!logprobs_) return nullptr;
    return LegacyLogprobsJson(logprobs, offsets_[static_cast<size_t>(index)]);
  }

  CompletionMeta meta_;
  std::vector<std::string> echo_;
  bool logprobs_;
  std::vector<int64_t> offsets_;  // streamed: where each choice's next token starts
};

}  // namespace

boost::asio::awaitable<void> HandleTextCompletion(HttpExchange& ex, ChatContext& ctx) {
  const std::string& body = ex.request().body();
  co_await RunGeneration(ex, ctx, [&body, &ctx] {
    const EngineClient& engine = ctx.engine;
    const PromptTokenizer tokenizer{
        [&engine](std::string_view text) { return engine.Tokenize(text); },
        [&engine](const std::vector<TokenId>& ids) { return engine.Detokenize(ids, false); },
        engine.vocab_size()};
    CompletionRequest c = ParseCompletionRequest(body, ctx.schema, tokenizer);
    Generation gen;
    gen.stream = c.fields.stream;
    gen.include_usage = c.fields.include_usage;
    gen.input_param = "prompt";
    std::vector<std::string> echo;
    for (size_t p = 0; p < c.prompts.size(); ++p) {
      Request request;
      request.sampling = c.sampling;
      request.constraint = c.constraint;
      request.prompt_ids = std::move(c.prompts[p].ids);
      gen.AddChoices(std::move(request), c.fields.n, static_cast<int>(p));
      echo.insert(echo.end(), static_cast<size_t>(c.fields.n), c.prompts[p].text);
    }
    const std::string& model = c.fields.model.empty() ? ctx.schema.model_name : c.fields.model;
    gen.format = std::make_unique<CompletionFormat>(NewCompletionMeta(model, "cmpl-"),
                                                    std::move(echo), c.sampling.logprobs >= 0);
    return gen;
  });
}

}  // namespace qwenvl::server
