#include "server/generation_schema.h"

#include <algorithm>
#include <limits>

#include "server/api_error.h"
#include "server/json_fields.h"

namespace qwenvl::server {
namespace {

using json = nlohmann::ordered_json;

void ParseStop(const json& body, SamplingParams& sampling) {
  auto stop = body.find("stop");
  if (stop == body.end() || stop->is_null()) return;
  if (stop->is_string()) {
    sampling.stop.push_back(stop->get<std::string>());
    return;
  }
  if (!stop->is_array()) WrongType("stop", "a string or a list of strings", *stop);
  if (stop->size() > 16) throw BadRequest("stop accepts at most 16 strings", "stop");
  for (const auto& s : *stop) {
    if (!s.is_string()) WrongType("stop[]", "a string", s);
    sampling.stop.push_back(s.get<std::string>());
  }
}

void ParseSampling(const json& body, const SchemaOptions& options, SamplingParams& s) {
  // max_completion_tokens replaces max_tokens in the OpenAI API; when both are sent it wins, and
  // both must be valid.
  const auto max_completion_tokens = ReadInteger<int64_t>(
      body, "max_completion_tokens", "max_completion_tokens", 1, options.context_length);
  const auto max_tokens =
      ReadInteger<int64_t>(body, "max_tokens", "max_tokens", 1, options.context_length);
  if (max_completion_tokens || max_tokens) {
    s.max_new_tokens = max_completion_tokens ? *max_completion_tokens : *max_tokens;
  }
  Assign(ReadFloat(body, "temperature", "temperature", 0.0, 2.0), s.temperature);
  // The sampler refuses top_p 0: it would keep no token at all.
  Assign(ReadFloat(body, "top_p", "top_p", 0.0, 1.0, /*lo_open=*/true), s.top_p);
  // -1 (vLLM's spelling) and 0 both turn top-k off; the sampler knows only 0.
  if (const auto top_k = ReadInteger<int>(body, "top_k", "top_k", -1, 1 << 20)) {
    s.top_k = std::max(*top_k, 0);
  }
  Assign(ReadFloat(body, "min_p", "min_p", 0.0, 1.0), s.min_p);
  Assign(ReadFloat(body, "repetition_penalty", "repetition_penalty", 0.01, 10.0),
         s.repetition_penalty);
  if (const auto v = ReadFloat(body, "presence_penalty", "presence_penalty", -2.0, 2.0)) {
    s.presence_penalty = *v;
  }
  if (const auto v = ReadFloat(body, "frequency_penalty", "frequency_penalty", -2.0, 2.0)) {
    s.frequency_penalty = *v;
  }
  // The sampler's seed is a uint64; a negative seed would alias a large one.
  Assign(ReadInteger<uint64_t>(body, "seed", "seed", 0, std::numeric_limits<uint64_t>::max()),
         s.seed);
  ParseStop(body, s);
}

}  // namespace

bool ModelAccepted(std::string_view model, const SchemaOptions& options) {
  if (model.empty() || options.served_names.empty()) return true;
  return std::find(options.served_names.begin(), options.served_names.end(), model) !=
         options.served_names.end();
}

void ParseGenerationFields(const json& body, const SchemaOptions& options, GenerationFields& out,
                           SamplingParams& sampling) {
  if (auto model = body.find("model"); model != body.end() && !model->is_null()) {
    if (!model->is_string()) WrongType("model", "a string", *model);
    out.model = model->get<std::string>();
    if (!ModelAccepted(out.model, options)) {
      throw ApiError(404,
                     "The model '" + out.model + "' does not exist; this server serves '" +
                         options.model_name + "'",
                     "model", "model_not_found");
    }
  }
  if (const auto n = ReadInteger<int64_t>(body, "n", "n", 1, std::numeric_limits<int>::max())) {
    const int most = std::max(options.max_choices, 1);
    if (*n > most) {
      throw BadRequest("n=" + std::to_string(*n) + " asks for more choices than the " +
                           std::to_string(most) +
                           " a request may have (each choice is one engine request; the limit "
                           "is 16, or the engine's queue if that is smaller)",
                       "n", "too_many_choices");
    }
    out.n = static_cast<int>(*n);
  }
  ReadBool(body, "stream", "stream", out.stream);
  if (auto so = body.find("stream_options"); so != body.end() && !so->is_null()) {
    if (!so->is_object()) WrongType("stream_options", "an object", *so);
    ReadBool(*so, "include_usage", "stream_options.include_usage", out.include_usage);
  }
  if (auto bias = body.find("logit_bias"); bias != body.end() && !bias->is_null()) {
    if (!bias->is_object()) WrongType("logit_bias", "an object", *bias);
    if (!bias->empty()) {
      throw BadRequest("logit_bias is not supported (the sampler has no per-token bias)",
                       "logit_bias", "unsupported_value");
    }
  }
  ParseSampling(body, options, sampling);
}

}  // namespace qwenvl::server
