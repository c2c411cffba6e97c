// The body of POST /v1/completions (OpenAI's legacy text completions): prompts as text or token
// ids, no chat template; n choices per prompt, answered as text_completion objects, whole or
// streamed, by RunGeneration (generation.h).
#pragma once

#include <boost/asio/awaitable.hpp>

#include "server/generation.h"
#include "server/http_exchange.h"

namespace qwenvl::server {

boost::asio::awaitable<void> HandleTextCompletion(HttpExchange& exchange, ChatContext& ctx);

}  // namespace qwenvl::server
