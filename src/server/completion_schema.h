// POST /v1/completions request bodies (OpenAI's legacy text completions, as vLLM and llama-server
// take them) turned into token-id prompts: no chat template, no media.
//
//   prompt     a string, a list of token ids, or a list of strings or of token-id lists (each one
//              prompt: the answer has n choices per prompt, prompt-major); strings are tokenized
//              with the model's tokenizer, special tokens written in them (<|im_start|>)
//              recognized; ids must lie in [0, vocab)
//   echo       the prompt's text is put before each answer (not with logprobs: the engine does not
//              score prompt tokens)
//   logprobs   0..5: each answer token's logprob and that many alternatives (the legacy format)
//   best_of    accepted when equal to n (no ranking of more samples)
//   suffix     refused (the model has no fill-in-the-middle)
//   max_tokens defaults to 16, as in OpenAI's API; the other fields are those of
//              generation_schema.h
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "qwenvl/engine.h"
#include "server/generation_schema.h"
#include "server/openai_schema.h"

namespace qwenvl::server {

// The model's tokenizer, as the parser needs it (the engine in the server, a stand-in in tests).
struct PromptTokenizer {
  std::function<std::vector<TokenId>(std::string_view)> tokenize;
  std::function<std::string(const std::vector<TokenId>&)> detokenize;
  int64_t vocab_size = 0;
};

struct CompletionPrompt {
  std::vector<TokenId> ids;
  std::string text;  // what echo puts before the answer (set only with echo)
};

struct CompletionRequest {
  std::vector<CompletionPrompt> prompts;
  GenerationFields fields;
  SamplingParams sampling;      // logprobs: -1 or 0..5
  OutputConstraint constraint;  // response_format, grammar, json_schema, ... (structured_output.h)
  bool echo = false;
};

// Throws ApiError: 400 naming the field for malformed, mistyped, out-of-range or contradictory
// values, 404 for a model not served.
CompletionRequest ParseCompletionRequest(std::string_view body, const SchemaOptions& options,
                                         const PromptTokenizer& tokenizer);

}  // namespace qwenvl::server
