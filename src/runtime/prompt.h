// From a request to the model's input ids: the chat template's messages (media as placeholders),
// the media in prompt order, and the expansion of each placeholder pad into as many pads as the
// item has vision tokens (model-spec §8.1).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <vector>

#include "io/model_config.h"
#include "qwenvl/engine.h"
#include "qwenvl/token_id.h"
#include "runtime/media_input.h"

namespace qwenvl::runtime {

// Messages in the transformers form the template expects: content is a string for a text-only
// message, else a list of {"type": "text", "text": ...} / {"type": "image"} / {"type": "video"}.
// Throws Error(kInvalidArgument) on an empty message list or an unknown role.
nlohmann::ordered_json TemplateMessages(const Request& request);

// Every media item of the request, in the order the template places them.
std::vector<const Media*> MediaInPromptOrder(const Request& request);

// Replaces the k-th image pad with media k's token count of image pads (videos likewise, counted
// separately). Throws Error when the ids hold a different number of placeholders than media items.
std::vector<TokenId> ExpandVisionPads(std::span<const TokenId> ids,
                                      std::span<const PreparedMedia* const> media,
                                      const io::ModelConfig& config);

}  // namespace qwenvl::runtime
