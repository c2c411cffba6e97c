// Server-sent events in the exact framing of OpenAI's streaming API: each event is
// "data: <one-line JSON>\n\n" and the stream ends with "data: [DONE]\n\n".
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "server/openai_response.h"

namespace qwenvl::server {

std::string SseEvent(const nlohmann::json& data);
std::string SseDone();
// Progress of the vision encoding or the prefill as an SSE comment, which OpenAI's clients (and
// every SSE parser) skip: ": progress {"phase":"vision","done":3,"total":8,"elapsed_ms":1234,
// "eta_ms":2000}" and a blank line. eta_ms: the rest at the rate so far (0 before any piece).
std::string SseProgressComment(const Progress& progress);

// A chat.completion.chunk: choices[{index, delta, logprobs, finish_reason}]; `finish_reason`
// null while streaming. `extra`, when not null, is added as the "qwenvl" field (final chunk).
nlohmann::json ChunkJson(const CompletionMeta& meta, const nlohmann::json& delta,
                         const char* finish_reason, const nlohmann::json& extra = nullptr,
                         int index = 0, const nlohmann::json& logprobs = nullptr);
// The usage chunk of stream_options.include_usage: empty choices and the usage object.
nlohmann::json UsageChunkJson(const CompletionMeta& meta, const Result& result);
nlohmann::json UsageChunkJson(const CompletionMeta& meta, const Usage& usage,
                              const char* object = "chat.completion.chunk");

}  // namespace qwenvl::server
