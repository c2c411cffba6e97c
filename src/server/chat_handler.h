// The body of POST /v1/chat/completions: parsed off the event loop, its n choices run and
// answered, whole or as server-sent events, by RunGeneration (generation.h). Offered tools turn
// the <tool_call> blocks of an answer into OpenAI's tool_calls.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "server/generation.h"
#include "server/http_exchange.h"

namespace qwenvl::server {

boost::asio::awaitable<void> HandleChatCompletion(HttpExchange& exchange, ChatContext& ctx);

}  // namespace qwenvl::server
