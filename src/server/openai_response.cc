#include "server/openai_response.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include "runtime/grounding.h"
#include "runtime/request_plan.h"
#include "text/utf8.h"

namespace qwenvl::server {

using nlohmann::json;

CompletionMeta NewCompletionMeta(const std::string& model, const char* id_prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char id[64];
  std::snprintf(id, sizeof(id), "%s%016llx%08llx", id_prefix,
                static_cast<unsigned long long>(rng()),
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

json UsageJson(const Usage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", usage.cached_tokens}}}};
}

std::string TokenText(const TokenLogprob& token) { return text::SanitizeUtf8(token.text); }

double JsonLogprob(float logprob) { return std::isfinite(logprob) ? logprob : -9999.0; }

namespace {

json TokenJson(const TokenLogprob& token) {
  json bytes = json::array();
  for (const char c : token.text) bytes.push_back(static_cast<unsigned char>(c));
  return {{"token", TokenText(token)}, {"logprob", JsonLogprob(token.logprob)}, {"bytes", bytes}};
}

}  // namespace

json ChatLogprobsJson(const std::vector<TokenLogprob>& tokens) {
  json content = json::array();
  for (const TokenLogprob& token : tokens) {
    json entry = TokenJson(token);
    json top = json::array();
    for (const TokenLogprob& alternative : token.top) top.push_back(TokenJson(alternative));
    entry["top_logprobs"] = std::move(top);
    content.push_back(std::move(entry));
  }
  return {{"content", std::move(content)}, {"refusal", nullptr}};
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
  json extra = {{"grounding", GroundingJson(result)},
                {"media", media},
                {"timings",
                 {{"preprocess_ms", t.preprocess_ms},
                  {"vision_ms", t.vision_ms},
                  {"prefill_ms", t.prefill_ms},
                  {"decode_ms", t.decode_ms},
                  {"first_token_ms", t.first_token_ms}}}};
  // How the request was fitted in the context (media budgets lowered, if any).
  if (result.plan) extra["plan"] = runtime::RequestPlanJson(*result.plan);
  return extra;
}

json CompletionJson(const CompletionMeta& meta, const Result& result) {
  const Usage usage{result.prompt_tokens, result.completion_tokens, result.cached_prompt_tokens};
  return CompletionJson(meta, {&result}, usage, false);
}

json CompletionJson(const CompletionMeta& meta, const std::vector<const Result*>& results,
                    const Usage& usage, bool logprobs) {
  json choices = json::array();
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = *results[i];
    json choice = {{"index", i},
                   {"message", {{"role", "assistant"}, {"content", r.text}}},
                   {"logprobs", logprobs ? ChatLogprobsJson(r.logprobs) : json(nullptr)},
                   {"finish_reason", OpenAiFinishReason(r.finish_reason)}};
    if (results.size() > 1) choice["qwenvl"] = QwenvlExtraJson(r);
    choices.push_back(std::move(choice));
  }
  return {{"id", meta.id},
          {"object", "chat.completion"},
          {"created", meta.created},
          {"model", meta.model},
          {"choices", std::move(choices)},
          {"usage", UsageJson(usage)},
          {"qwenvl", QwenvlExtraJson(*results.at(0))}};
}

json ModelJson(const std::string& id, const std::string& root, int64_t max_model_len,
               int64_t created) {
  return {{"id", id},           {"object", "model"},
          {"created", created}, {"owned_by", "qwenvl"},
          {"root", root},       {"max_model_len", max_model_len}};
}

json ModelsJson(const std::vector<std::string>& ids, const std::string& root, int64_t max_model_len,
                int64_t created) {
  json data = json::array();
  for (const std::string& id : ids) data.push_back(ModelJson(id, root, max_model_len, created));
  return {{"object", "list"}, {"data", std::move(data)}};
}

}  // namespace qwenvl::server
