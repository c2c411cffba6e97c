// The tokenizer and the chat template over HTTP, with llama-server's names and shapes (for looking
// at what a prompt becomes):
//   POST /tokenize        {"content": "text", "add_special": bool, "with_pieces": bool}
//                         -> {"tokens": [id, ...]}, or with_pieces {"tokens": [{"id", "piece"}]}
//                         (a piece that is not whole UTF-8 is a list of byte values). Special
//                         tokens written in the text (<|im_start|>) are recognized; parse_special
//                         false is refused. Qwen2.5-VL's tokenizer adds no BOS or EOS, so
//                         add_special changes nothing.
//   POST /detokenize      {"tokens": [id, ...]} -> {"content": "text"} (ids in [0, vocab))
//   POST /apply-template  a chat completion's body -> {"prompt": "the rendered template"}
// Work runs on the parse threads. Sizes are bounded by the context: /tokenize takes at most 16
// bytes of content per context token, /detokenize at most context_length ids.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "server/generation.h"
#include "server/http_exchange.h"

namespace qwenvl::server {

boost::asio::awaitable<void> HandleTokenize(HttpExchange& exchange, ChatContext& ctx);
boost::asio::awaitable<void> HandleDetokenize(HttpExchange& exchange, ChatContext& ctx);
boost::asio::awaitable<void> HandleApplyTemplate(HttpExchange& exchange, ChatContext& ctx);

}  // namespace qwenvl::server
