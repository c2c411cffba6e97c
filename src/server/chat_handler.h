// The body of POST /v1/chat/completions: parse, submit, then answer whole or as SSE.
#pragma once

#include <httplib.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>

#include "server/backend.h"
#include "server/metrics.h"
#include "server/openai_schema.h"

namespace qwenvl::server {

// What the handler needs from the server; outlives every request it serves.
struct ChatContext {
  Backend& backend;
  Metrics& metrics;
  SchemaOptions schema;
  // Handles of requests still running, so that shutdown can cancel them.
  std::mutex mu;
  std::set<std::shared_ptr<RequestHandle>> running;
};

void HandleChatCompletion(const httplib::Request& req, httplib::Response& res, ChatContext& ctx);

// Writes an OpenAI-shaped error body with its status.
void WriteError(httplib::Response& res, int status, const std::string& message,
                const std::string& code = "", const std::string& param = "");

}  // namespace qwenvl::server
