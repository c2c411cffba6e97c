// Response bodies of /v1/chat/completions (whole and streamed) and the qwenvl extra field:
//
//   "qwenvl": {
//     "grounding": [{"type": "box", "label": "red circle", "media_index": 0,
//                    "bbox_2d": [x1, y1, x2, y2],            // original picture pixels
//                    "bbox_2d_resized": [x1, y1, x2, y2]},   // what the model wrote (resized
//                    frame)
//                   {"type": "point", "label": "...", "media_index": 0,
//                    "point_2d": [x, y], "point_2d_resized": [x, y]}],
//     "media": [{"type": "image", "original_width": W0, "original_height": H0,
//                "resized_width": Wr, "resized_height": Hr, "tokens": N}],
//     "timings": {"preprocess_ms", "vision_ms", "prefill_ms", "decode_ms", "first_token_ms"}
//   }
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "qwenvl/engine.h"

namespace qwenvl::server {

struct CompletionMeta {
  std::string id;       // "chatcmpl-<random hex>" ("cmpl-..." for text completions)
  int64_t created = 0;  // Unix seconds
  std::string model;
};

CompletionMeta NewCompletionMeta(const std::string& model, const char* id_prefix = "chatcmpl-");

// Token counts of a request: every prompt counted once (n choices of one prompt read it once),
// every answer's tokens summed.
struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;
};
nlohmann::json UsageJson(const Usage& usage);

// "stop" or "length" (a cancelled request reports "stop": its client is gone anyway).
const char* OpenAiFinishReason(FinishReason reason);

nlohmann::json UsageJson(const Result& result);
nlohmann::json QwenvlExtraJson(const Result& result);
// A whole chat.completion object of one choice.
nlohmann::json CompletionJson(const CompletionMeta& meta, const Result& result);
// With a choice per result: each choice's logprobs with `logprobs`, and with several choices each
// its own "qwenvl" field (the top-level one is choice 0's).
nlohmann::json CompletionJson(const CompletionMeta& meta, const std::vector<const Result*>& results,
                              const Usage& usage, bool logprobs);

// A token's text as JSON can carry it: ill-formed UTF-8 (a piece of a character) repaired with
// U+FFFD; its exact bytes go in "bytes".
std::string TokenText(const TokenLogprob& token);
// Chat's choices[i].logprobs: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}],
// "refusal": null}. A logprob of -infinity (a token the sampler had ruled out) is written as
// -9999.0, as OpenAI does: JSON has no infinities.
nlohmann::json ChatLogprobsJson(const std::vector<TokenLogprob>& tokens);
double JsonLogprob(float logprob);

// An entry of GET /v1/models and GET /v1/models/{id}: `root` is the model folder's name.
nlohmann::json ModelJson(const std::string& id, const std::string& root, int64_t max_model_len,
                         int64_t created);
nlohmann::json ModelsJson(const std::vector<std::string>& ids, const std::string& root,
                          int64_t max_model_len, int64_t created);

}  // namespace qwenvl::server
