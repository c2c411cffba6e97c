#include "server/ollama_handler.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "server/api_error.h"
#include "server/ollama_response.h"
#include "server/ollama_schema.h"

namespace qwenvl::server {

namespace net = boost::asio;
namespace http = boost::beast::http;
using nlohmann::json;

namespace {

// One object per line: dump() escapes control characters, so an object never spans two lines.
std::string Line(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

// ollama's answer objects: each piece of text streamed as an object with done false, then the
// final object with the statistics; an error ends a stream as an {"error": ...} line, which
// ollama's clients raise.
class OllamaWriter final : public AnswerWriter {
 public:
  OllamaWriter(OllamaEndpoint endpoint, std::string model,
               std::chrono::steady_clock::time_point started, bool return_context)
      : endpoint_(endpoint),
        model_(std::move(model)),
        started_(started),
        return_context_(return_context) {}

  json Whole(const Result& r) override { return Final(r, r.text); }
  std::string_view stream_type() const override { return "application/x-ndjson"; }
  std::string StreamBegin() override { return ""; }
  std::string StreamText(std::string_view text) override {
    return Line(OllamaChunkJson(endpoint_, model_, text));
  }
  std::string StreamEnd(const Result& r) override { return Line(Final(r, "")); }
  std::string StreamError(const ApiError& e) override { return Line(OllamaErrorJson(e)); }

 private:
  json Final(const Result& r, std::string_view text) const {
    if (!return_context_) return OllamaFinalJson(endpoint_, model_, r, text, started_, nullptr);
    // The conversation as the model saw it and answered, to be sent back as the next "context".
    std::vector<TokenId> context = r.prompt_ids;
    context.insert(context.end(), r.tokens.begin(), r.tokens.end());
    return OllamaFinalJson(endpoint_, model_, r, text, started_, &context);
  }

  OllamaEndpoint endpoint_;
  std::string model_;
  std::chrono::steady_clock::time_point started_;
  bool return_context_;
};

// Parses on the parse executor: base64 images and the tokenizer take time the event loop must
// not spend.
template <class F>
net::awaitable<OllamaRequest> ParseOffLoop(const ChatContext& ctx, F parse) {
  co_return co_await net::co_spawn(
      ctx.parse_executor, [&parse]() -> net::awaitable<OllamaRequest> { co_return parse(); },
      net::use_awaitable);
}

net::awaitable<void> HandleGeneration(HttpExchange& ex, ChatContext& ctx, OllamaEndpoint endpoint) {
  const std::string& body = ex.request().body();
  std::optional<OllamaRequest> parsed;
  std::optional<ApiError> failure;
  try {
    parsed = co_await ParseOffLoop(ctx, [&]() {
      return endpoint == OllamaEndpoint::kChat ? ParseOllamaChat(body, ctx.schema)
                                               : ParseOllamaGenerate(body, ctx.schema, ctx.engine);
    });
  } catch (...) {
    failure = FailureOf(std::current_exception());
  }
  if (failure) {
    co_await RefuseGeneration(ex, ctx, *failure);
    co_return;
  }
  if (parsed->load) {  // the model is always loaded: done at once
    co_await ex.SendJson(200, OllamaLoadJson(endpoint, parsed->chat.model));
    co_return;
  }
  OllamaWriter writer(endpoint, parsed->chat.model, ex.record().start, parsed->return_context);
  co_await AnswerGeneration(ex, ctx, std::move(parsed->chat), writer);
}

// ollama's endpoints that manage a library of models, which a server of one model folder has not.
bool IsModelManagement(std::string_view path) {
  for (std::string_view p : {"/api/pull", "/api/push", "/api/create", "/api/copy", "/api/delete"}) {
    if (path == p) return true;
  }
  return path.starts_with("/api/blobs/");
}

}  // namespace

bool IsOllamaPath(std::string_view path) { return path == "/api" || path.starts_with("/api/"); }

net::awaitable<void> HandleOllama(HttpExchange& ex, ChatContext& ctx, int64_t started) {
  const auto& req = ex.request();
  const std::string_view target = req.target();
  const std::string path(target.substr(0, target.find('?')));
  const http::verb method = req.method();
  const bool get = method == http::verb::get || method == http::verb::head;
  const bool post = method == http::verb::post;
  const std::string route = std::string(req.method_string()) + " " + path;
  const OllamaModelInfo model =
      MakeOllamaModelInfo(ctx.schema.model_name, ctx.engine.context_length(), started);

  std::optional<ApiError> failure;
  if (path == "/api/chat" || path == "/api/generate") {
    if (post) {
      co_await HandleGeneration(
          ex, ctx, path == "/api/chat" ? OllamaEndpoint::kChat : OllamaEndpoint::kGenerate);
      co_return;
    }
    failure = ApiError(405, "use POST for " + path, "", "method_not_allowed");
  } else if (path == "/api/tags" || path == "/api/ps" || path == "/api/version") {
    if (get) {
      const json body = path == "/api/tags" ? OllamaTagsJson(model)
                        : path == "/api/ps" ? OllamaPsJson(model)
                                            : json{{"version", kOllamaApiVersion}};
      co_await ex.SendJson(200, body);
      co_return;
    }
    failure = ApiError(405, "use GET for " + path, "", "method_not_allowed");
  } else if (path == "/api/show") {
    if (post) {
      try {
        ParseOllamaShow(req.body());  // any name is the served model, as for chat
      } catch (...) {
        failure = FailureOf(std::current_exception());
      }
      if (!failure) {
        co_await ex.SendJson(200, OllamaShowJson(model));
        co_return;
      }
    } else {
      failure = ApiError(405, "use POST for " + path, "", "method_not_allowed");
    }
  } else if (IsModelManagement(path)) {
    failure = ApiError(501,
                       route +
                           " is not supported: qwenvl serves the one model folder it was "
                           "started with (qwenvl serve -m DIR)",
                       "", "not_implemented");
  } else if (path == "/api/embed" || path == "/api/embeddings") {
    failure = ApiError(501, route + " is not supported: qwenvl serve does not compute embeddings",
                       "", "not_implemented");
  } else {
    failure = ApiError(404, "no route for " + route, "", "not_found");
  }
  co_await ex.SendError(*failure);
}

}  // namespace qwenvl::server
