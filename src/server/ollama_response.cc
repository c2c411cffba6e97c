#include "server/ollama_response.h"

#include <cstdio>
#include <ctime>

#include "server/openai_response.h"
#include "util/sha256.h"

namespace qwenvl::server {

using nlohmann::json;

namespace {

int64_t Nanoseconds(double ms) { return static_cast<int64_t>(ms * 1e6); }

const char* DoneReason(FinishReason reason) {
  // A cancelled request's client has gone; "stop" is what ollama says of an answer cut short.
  return reason == FinishReason::kLength ? "length" : "stop";
}

std::string Rfc3339(int64_t unix_seconds, int64_t nanoseconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
  char text[48];
  std::snprintf(text, sizeof(text), "%s.%09lldZ", date, static_cast<long long>(nanoseconds));
  return text;
}

// What ollama's listings say of a model's files. The family is ollama's name for the Qwen2.5-VL
// architecture; sizes and quantization are not known to the server (0 and "").
json DetailsJson() {
  return {{"parent_model", ""},   {"format", "safetensors"},
          {"family", "qwen25vl"}, {"families", json::array({"qwen25vl"})},
          {"parameter_size", ""}, {"quantization_level", ""}};
}

// A stable identifier in the form of ollama's digests (there is no ollama blob behind it).
std::string Digest(const std::string& name) {
  Sha256 h;
  h.Update(name);
  return h.FinishHex();
}

}  // namespace

std::string OllamaTime(std::chrono::system_clock::time_point t) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch());
  const auto s = std::chrono::floor<std::chrono::seconds>(ns);
  return Rfc3339(s.count(), (ns - s).count());
}

json OllamaErrorJson(const ApiError& error) { return {{"error", error.what()}}; }

json OllamaChunkJson(OllamaEndpoint endpoint, const std::string& model, std::string_view text) {
  json j = {{"model", model}, {"created_at", OllamaTime(std::chrono::system_clock::now())}};
  if (endpoint == OllamaEndpoint::kChat) {
    j["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    j["response"] = text;
  }
  j["done"] = false;
  return j;
}

json OllamaFinalJson(OllamaEndpoint endpoint, const std::string& model, const Result& result,
                     std::string_view text, std::chrono::steady_clock::time_point started,
                     const std::vector<TokenId>* context) {
  json j = OllamaChunkJson(endpoint, model, text);
  j["done"] = true;
  j["done_reason"] = DoneReason(result.finish_reason);
  if (context) j["context"] = *context;
  const Timings& t = result.timings;
  j["total_duration"] = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now() - started)
                            .count();
  j["load_duration"] = 0;
  j["prompt_eval_count"] = result.prompt_tokens;
  j["prompt_eval_duration"] = Nanoseconds(t.preprocess_ms + t.vision_ms + t.prefill_ms);
  j["eval_count"] = result.completion_tokens;
  j["eval_duration"] = Nanoseconds(t.decode_ms);
  j["qwenvl"] = QwenvlExtraJson(result);
  return j;
}

json OllamaLoadJson(OllamaEndpoint endpoint, const std::string& model) {
  json j = OllamaChunkJson(endpoint, model, "");
  j["done_reason"] = "load";
  j["done"] = true;
  return j;
}

OllamaModelInfo MakeOllamaModelInfo(const std::string& served_name, int64_t context_length,
                                    int64_t started) {
  OllamaModelInfo info;
  // ollama lists every model with its tag; "name" and "name:latest" are the same model to it.
  info.name = served_name.find(':') == std::string::npos ? served_name + ":latest" : served_name;
  info.context_length = context_length;
  info.started = started;
  return info;
}

json OllamaTagsJson(const OllamaModelInfo& m) {
  const json model = {
      {"name", m.name}, {"model", m.name},          {"modified_at", Rfc3339(m.started, 0)},
      {"size", 0},      {"digest", Digest(m.name)}, {"details", DetailsJson()}};
  return {{"models", json::array({model})}};
}

json OllamaPsJson(const OllamaModelInfo& m) {
  // Loaded for as long as the server runs: the expiry is the far future.
  const json model = {{"name", m.name},
                      {"model", m.name},
                      {"size", 0},
                      {"digest", Digest(m.name)},
                      {"details", DetailsJson()},
                      {"expires_at", "9999-12-31T23:59:59Z"},
                      {"size_vram", 0},
                      {"context_length", m.context_length}};
  return {{"models", json::array({model})}};
}

json OllamaShowJson(const OllamaModelInfo& m) {
  return {{"modelfile", "# served by qwenvl serve (the model folder it was started with)\nFROM " +
                            m.name + "\n"},
          {"parameters", ""},
          {"template", ""},
          {"details", DetailsJson()},
          {"model_info",
           {{"general.architecture", "qwen25vl"},
            {"general.basename", m.name.substr(0, m.name.rfind(':'))},
            {"qwen25vl.context_length", m.context_length}}},
          {"capabilities", json::array({"completion", "vision"})},
          {"modified_at", Rfc3339(m.started, 0)}};
}

}  // namespace qwenvl::server
