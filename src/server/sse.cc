#include "server/sse.h"

namespace qwenvl::server {

using nlohmann::json;

std::string SseEvent(const json& data) {
  // dump() escapes control characters, so the JSON never contains a raw newline that would end the
  // event early. Invalid UTF-8 (never produced by the engine) is replaced, not thrown.
  return "data: " + data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

std::string SseDone() { return "data: [DONE]\n\n"; }

std::string SseProgressComment(const Progress& p) {
  const auto elapsed_ms = static_cast<int64_t>(p.elapsed_ms);
  const int64_t eta_ms =
      p.done > 0 && p.total > p.done
          ? static_cast<int64_t>(p.elapsed_ms * static_cast<double>(p.total - p.done) /
                                 static_cast<double>(p.done))
          : 0;
  // Keys in this order, one line (ordered_json: the page reads the line as it is).
  nlohmann::ordered_json j;
  j["phase"] = ProgressPhaseName(p.phase);
  j["done"] = p.done;
  j["total"] = p.total;
  j["elapsed_ms"] = elapsed_ms;
  j["eta_ms"] = eta_ms;
  return ": progress " + j.dump() + "\n\n";
}

json ChunkJson(const CompletionMeta& meta, const json& delta, const char* finish_reason,
               const json& extra, int index, const json& logprobs) {
  json choice = {{"index", index}, {"delta", delta}, {"logprobs", logprobs}};
  choice["finish_reason"] = finish_reason ? json(finish_reason) : json(nullptr);
  json chunk = {{"id", meta.id},
                {"object", "chat.completion.chunk"},
                {"created", meta.created},
                {"model", meta.model},
                {"choices", json::array({choice})}};
  if (!extra.is_null()) chunk["qwenvl"] = extra;
  return chunk;
}

json UsageChunkJson(const CompletionMeta& meta, const Result& result) {
  return {{"id", meta.id},       {"object", "chat.completion.chunk"}, {"created", meta.created},
          {"model", meta.model}, {"choices", json::array()},          {"usage", UsageJson(result)}};
}

json UsageChunkJson(const CompletionMeta& meta, const Usage& usage, const char* object) {
  return {{"id", meta.id},       {"object", object},         {"created", meta.created},
          {"model", meta.model}, {"choices", json::array()}, {"usage", UsageJson(usage)}};
}

}  // namespace qwenvl::server
