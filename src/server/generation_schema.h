// The request fields the generation endpoints (/v1/chat/completions, /v1/completions) share: the
// model name, the number of choices, streaming, and the sampling parameters. Each endpoint parses
// its own fields beside these.
//
//   model              a string; with served names (--served-model-name) it must be one of them
//                      (404 otherwise); without, any name is accepted (one model is served)
//   n                  choices, 1..SchemaOptions::max_choices (each one engine request)
//   stream, stream_options.include_usage
//   max_tokens / max_completion_tokens, temperature, top_p, top_k, min_p, repetition_penalty,
//   presence_penalty, frequency_penalty, seed, stop
//   logit_bias         refused unless empty (the sampler has no per-token bias)
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "qwenvl/engine.h"
#include "server/openai_schema.h"

namespace qwenvl::server {

struct GenerationFields {
  std::string model;  // as the request named it ("" when absent)
  int n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// Whether a request naming `model` is served: the empty name always is; without served names,
// every name is.
bool ModelAccepted(std::string_view model, const SchemaOptions& options);

// Throws ApiError (400 naming the field, 404 for a model not served). `sampling` keeps the values
// of fields the body does not set.
void ParseGenerationFields(const nlohmann::ordered_json& body, const SchemaOptions& options,
                           GenerationFields& out, SamplingParams& sampling);

}  // namespace qwenvl::server
