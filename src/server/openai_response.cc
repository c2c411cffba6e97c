#include "server/openai_response.h"

#include <chrono>
#include <cstdio>
#include <random>

#include "runtime/grounding.h"

namespace qwenvl::server {

using nlohmann::json;

CompletionMeta NewCompletionMeta(const std::string& model) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char id[48];
  std::snprintf(id, sizeof(id), "chatcmpl-%016llx%08llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng() & 0xffffffffULL));
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return {id, std::chrono::duration_cast<std::chrono::seconds>(now).count(), model};
}

const char* OpenAiFinishReason(FinishReason reason) {
  return reason == FinishReason::kLength ? "length" : "stop";
}

json UsageJson(const Result& result) {
  return {{"prompt_tokens", result.prompt_tokens},
          {"completion_tokens", result.completion_tokens},
          {"total_tokens", result.prompt_tokens + result.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", result.cached_prompt_tokens}}}};
}

namespace {

json GroundingJson(const Result& result) {
  json items = json::array();
  const int index = runtime::GroundingMediaIndex(result.media);
  for (const auto& item : runtime::ParseGrounding(result.text)) {
    const bool box = item.kind == runtime::GroundingItem::Kind::kBox;
    const char* key = box ? "bbox_2d" : "point_2d";
    json j = {{"type", box ? "box" : "point"}, {"label", item.label}};
    j["media_index"] = index >= 0 ? json(index) : json(nullptr);
    if (index >= 0) {
      const MediaInfo& media = result.media[static_cast<size_t>(index)];
      j[key] = runtime::ToOriginalFrame(item, media).coords;
      j[std::string(key) + "_resized"] = runtime::NormalizeResized(item, media).coords;
    } else {
      j[key] = item.coords;
      j[std::string(key) + "_resized"] = item.coords;
    }
    items.push_back(std::move(j));
  }
  return items;
}

json MediaJson(const MediaInfo& m) {
  json j = {{"type", m.kind == Media::Kind::kVideo ? "video" : "image"},
            {"original_width", m.original_width},
            {"original_height", m.original_height},
            {"resized_width", m.resized_width},
            {"resized_height", m.resized_height},
            {"tokens", m.tokens}};
  if (m.kind == Media::Kind::kVideo) {
    j["frame_indices"] = m.frame_indices;
    j["second_per_grid_t"] = m.second_per_grid_t;
  }
  return j;
}

}  // namespace

json QwenvlExtraJson(const Result& result) {
  json media = json::array();
  for (const auto& m : result.media) media.push_back(MediaJson(m));
  const Timings& t = result.timings;
  return {{"grounding", GroundingJson(result)},
          {"media", media},
          {"timings",
           {{"preprocess_ms", t.preprocess_ms},
            {"vision_ms", t.vision_ms},
            {"prefill_ms", t.prefill_ms},
            {"decode_ms", t.decode_ms},
            {"first_token_ms", t.first_token_ms}}}};
}

json CompletionJson(const CompletionMeta& meta, const Result& result) {
  json message = {{"role", "assistant"}, {"content", result.text}};
  return {{"id", meta.id},
          {"object", "chat.completion"},
          {"created", meta.created},
          {"model", meta.model},
          {"choices", json::array({{{"index", 0},
                                    {"message", message},
                                    {"logprobs", nullptr},
                                    {"finish_reason", OpenAiFinishReason(result.finish_reason)}}})},
          {"usage", UsageJson(result)},
          {"qwenvl", QwenvlExtraJson(result)}};
}

json ModelsJson(const std::string& model, int64_t created) {
  return {
      {"object", "list"},
      {"data",
       json::array(
           {{{"id", model}, {"object", "model"}, {"created", created}, {"owned_by", "qwenvl"}}})}};
}

}  // namespace qwenvl::server
