#include "server/token_endpoints.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <optional>

#include "server/api_error.h"
#include "server/json_fields.h"
#include "text/utf8.h"

namespace qwenvl::server {
namespace {

namespace net = boost::asio;
using nlohmann::json;

// Bytes of /tokenize content per context token: far more than any text needs (a token is about 4
// bytes of English), a bound on the work one request can ask for.
constexpr int64_t kContentBytesPerToken = 16;

using RequestJson = nlohmann::ordered_json;

RequestJson ParseBody(const std::string& text) {
  RequestJson body = RequestJson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) throw BadRequest("request body is not valid JSON", "", "invalid_json");
  if (!body.is_object()) WrongType("body", "a JSON object", body);
  return body;
}

// Runs `work` on the parse threads and answers its JSON, or its error.
net::awaitable<void> Answer(HttpExchange& ex, ChatContext& ctx, std::function<json()> work) {
  std::optional<ApiError> failure;
  json out;
  try {
    out = co_await net::co_spawn(
        ctx.parse_executor, [&work]() -> net::awaitable<json> { co_return work(); },
        net::use_awaitable);
  } catch (const ApiError& e) {
    failure = e;
  } catch (const Error& e) {
    failure = FromEngineError(e);
  } catch (const std::exception& e) {
    failure = ApiError(500, e.what(), "", "internal_error");
  }
  if (failure) {
    co_await ex.SendError(*failure);
  } else {
    co_await ex.SendJson(200, out);
  }
}

json Tokenize(const std::string& text, const ChatContext& ctx) {
  const RequestJson body = ParseBody(text);
  auto content = body.find("content");
  if (content == body.end() || content->is_null()) {
    throw BadRequest("content is required", "content", "missing");
  }
  if (!content->is_string()) WrongType("content", "a string", *content);
  const std::string& s = content->get_ref<const std::string&>();
  const int64_t most = ctx.schema.context_length * kContentBytesPerToken;
  if (std::cmp_greater(s.size(), most)) {
    throw BadRequest("content is " + std::to_string(s.size()) + " bytes; at most " +
                         std::to_string(most) + " (" + std::to_string(kContentBytesPerToken) +
                         " per token of the context)",
                     "content", "content_too_long");
  }
  bool add_special = false, parse_special = true, with_pieces = false;
  ReadBool(body, "add_special", "add_special", add_special);  // nothing to add: no BOS or EOS
  ReadBool(body, "parse_special", "parse_special", parse_special);
  if (!parse_special) {
    throw BadRequest(
        "parse_special false is not supported: the tokenizer always recognizes "
        "special tokens written in the text",
        "parse_special", "unsupported_value");
  }
  ReadBool(body, "with_pieces", "with_pieces", with_pieces);
  const std::vector<TokenId> ids = ctx.engine.Tokenize(s);
  json tokens = json::array();
  for (const TokenId id : ids) {
    if (!with_pieces) {
      tokens.push_back(id);
      continue;
    }
    const std::string piece = ctx.engine.TokenBytes(id);
    json bytes = json::array();
    if (!text::IsValidUtf8(piece)) {
      for (const char c : piece) bytes.push_back(static_cast<unsigned char>(c));
    }
    tokens.push_back(
        {{"id", id}, {"piece", text::IsValidUtf8(piece) ? json(piece) : std::move(bytes)}});
  }
  return {{"tokens", std::move(tokens)}};
}

json Detokenize(const std::string& text, const ChatContext& ctx) {
  const RequestJson body = ParseBody(text);
  auto tokens = body.find("tokens");
  if (tokens == body.end() || tokens->is_null()) {
    throw BadRequest("tokens is required", "tokens", "missing");
  }
  if (!tokens->is_array()) WrongType("tokens", "a list of token ids", *tokens);
  if (std::cmp_greater(tokens->size(), ctx.schema.context_length)) {
    throw BadRequest("tokens lists " + std::to_string(tokens->size()) + " ids; at most " +
                         std::to_string(ctx.schema.context_length) + " (the context)",
                     "tokens", "too_many_tokens");
  }
  const int64_t vocab = ctx.engine.vocab_size();
  std::vector<TokenId> ids;
  ids.reserve(tokens->size());
  for (size_t i = 0; i < tokens->size(); ++i) {
    ids.push_back(ReadTokenId((*tokens)[i], "tokens[" + std::to_string(i) + "]", vocab));
  }
  return {{"content", ctx.engine.Detokenize(ids, /*skip_special_tokens=*/false)}};
}

json ApplyTemplate(const std::string& text, const ChatContext& ctx) {
  const ChatRequest chat = ParseChatRequest(text, ctx.schema);
  return {{"prompt", ctx.engine.RenderPrompt(chat.request)}};
}

}  // namespace

net::awaitable<void> HandleTokenize(HttpExchange& ex, ChatContext& ctx) {
  const std::string& body = ex.request().body();
  co_await Answer(ex, ctx, [&] { return Tokenize(body, ctx); });
}

net::awaitable<void> HandleDetokenize(HttpExchange& ex, ChatContext& ctx) {
  const std::string& body = ex.request().body();
  co_await Answer(ex, ctx, [&] { return Detokenize(body, ctx); });
}

net::awaitable<void> HandleApplyTemplate(HttpExchange& ex, ChatContext& ctx) {
  const std::string& body = ex.request().body();
  co_await Answer(ex, ctx, [&] { return ApplyTemplate(body, ctx); });
}

}  // namespace qwenvl::server
