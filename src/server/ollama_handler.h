// ollama's API on the same server and the same engine as the OpenAI one, for ollama's clients and
// the front ends made for it (docs/ollama.md lists what is supported):
//   POST /api/chat, POST /api/generate   answers streamed as newline-delimited JSON (by default) or
//                                        whole; submitted, streamed, cancelled and drained exactly
//                                        as /v1/chat/completions (chat_handler.h)
//   GET  /api/tags, GET /api/ps          the served model
//   POST /api/show                       its details and capabilities (completion, vision)
//   GET  /api/version                    the ollama version whose API this matches
// Errors are ollama's {"error": "message"} with the HTTP status the OpenAI API gives them.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string_view>

#include "server/chat_handler.h"
#include "server/http_exchange.h"

namespace qwenvl::server {

// Whether a request path belongs to ollama's API (/api/...): HandleOllama answers it, and its
// errors take ollama's shape (OllamaErrorJson), those found before routing included.
bool IsOllamaPath(std::string_view path);

// Answers any request whose path IsOllamaPath; `started` (Unix seconds) is when the model was
// loaded, its modified_at in the listings.
boost::asio::awaitable<void> HandleOllama(HttpExchange& exchange, ChatContext& ctx,
                                          int64_t started);

}  // namespace qwenvl::server
