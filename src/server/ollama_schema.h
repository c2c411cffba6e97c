// Request bodies of ollama's API (github.com/ollama/ollama, docs/api.md) turned into the server's
// ChatRequest: POST /api/chat and POST /api/generate, and the model named in POST /api/show.
// Every malformed body becomes an ApiError(400) naming the field; nothing here runs the model
// (the tokenizer and the chat template excepted, for /api/generate's raw prompts and context).
//
// What is honoured, ignored and refused is listed in docs/ollama.md. In short: messages (role,
// content, images as base64), prompt, system, images, format ("json" or a JSON schema), raw,
// context, stream (default true) and the sampling options are honoured; keep_alive, num_ctx and the
// options that choose hardware or other samplers are checked and ignored; tools, think, suffix,
// template and logprobs are refused. Fields ollama does not know are ignored, as ollama does.
#pragma once

#include <string>
#include <string_view>

#include "server/engine_client.h"
#include "server/openai_schema.h"

namespace qwenvl::server {

struct OllamaRequest {
  ChatRequest chat;  // chat.model: the name as the client gave it (echoed in the answer)
  // No messages (/api/chat) or no prompt (/api/generate): ollama's request to load the model,
  // answered at once without running it.
  bool load = false;
  // /api/generate without images and not raw: the answer carries "context", the token ids of the
  // conversation, which the client may send back to continue it.
  bool return_context = false;
};

OllamaRequest ParseOllamaChat(std::string_view body, const SchemaOptions& options);
// `engine` tokenizes raw prompts and renders the template when a context is continued.
OllamaRequest ParseOllamaGenerate(std::string_view body, const SchemaOptions& options,
                                  const EngineClient& engine);
// The model POST /api/show asks about: "model", or "name" as older clients send it.
std::string ParseOllamaShow(std::string_view body);

}  // namespace qwenvl::server
