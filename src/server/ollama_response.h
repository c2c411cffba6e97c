// Response bodies of ollama's API as its docs/api.md shows them: the objects of /api/chat and
// /api/generate (streamed ones, the final one with its statistics in nanoseconds, the answer to a
// load request), the model listings (/api/tags, /api/ps, /api/show, /api/version) and errors,
// which ollama words as {"error": "message"}.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "qwenvl/engine.h"
#include "server/api_error.h"

namespace qwenvl::server {

// The ollama release whose API this server matches (GET /api/version): clients look at it to know
// which fields they may send (JSON-schema formats, for instance, came with 0.5).
inline constexpr const char* kOllamaApiVersion = "0.9.0";

enum class OllamaEndpoint { kChat, kGenerate };

// RFC 3339 in UTC with nanoseconds, as ollama writes created_at: "2024-12-06T00:48:09.983619Z".
std::string OllamaTime(std::chrono::system_clock::time_point t);

nlohmann::json OllamaErrorJson(const ApiError& error);

// A piece of a streamed answer: {"model", "created_at", "message": {"role": "assistant",
// "content"}, "done": false} for chat, {"model", "created_at", "response", "done": false} for
// generate.
nlohmann::json OllamaChunkJson(OllamaEndpoint endpoint, const std::string& model,
                               std::string_view text);

// The last object of an answer: done true, done_reason ("stop" or "length"), the statistics
// (total_duration since `started`, load_duration 0: the model is loaded once, before the server
// listens; prompt_eval_* the prompt with its pictures, eval_* the answer), `text` (the whole
// answer, or "" after a stream), "context" when `context` is set (generate), and the qwenvl extra
// field (grounding, media sizes, timings) that the OpenAI answer carries.
nlohmann::json OllamaFinalJson(OllamaEndpoint endpoint, const std::string& model,
                               const Result& result, std::string_view text,
                               std::chrono::steady_clock::time_point started,
                               const std::vector<TokenId>* context);

// The answer to a load request (no messages, no prompt): done at once, done_reason "load".
nlohmann::json OllamaLoadJson(OllamaEndpoint endpoint, const std::string& model);

// What the listings say of the one served model.
struct OllamaModelInfo {
  std::string name;  // as listed: the served name, with ":latest" when it has no tag
  int64_t context_length = 0;
  int64_t started = 0;  // Unix seconds: the model's modified_at
};

OllamaModelInfo MakeOllamaModelInfo(const std::string& served_name, int64_t context_length,
                                    int64_t started);
nlohmann::json OllamaTagsJson(const OllamaModelInfo& model);
nlohmann::json OllamaPsJson(const OllamaModelInfo& model);
nlohmann::json OllamaShowJson(const OllamaModelInfo& model);

}  // namespace qwenvl::server
