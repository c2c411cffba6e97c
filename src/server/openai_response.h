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

#include "qwenvl/engine.h"

namespace qwenvl::server {

struct CompletionMeta {
  std::string id;       // "chatcmpl-<random hex>"
  int64_t created = 0;  // Unix seconds
  std::string model;
};

CompletionMeta NewCompletionMeta(const std::string& model);

// "stop" or "length" (a cancelled request reports "stop": its client is gone anyway).
const char* OpenAiFinishReason(FinishReason reason);

nlohmann::json UsageJson(const Result& result);
nlohmann::json QwenvlExtraJson(const Result& result);
// A whole chat.completion object.
nlohmann::json CompletionJson(const CompletionMeta& meta, const Result& result);
// GET /v1/models.
nlohmann::json ModelsJson(const std::string& model, int64_t created);

}  // namespace qwenvl::server
