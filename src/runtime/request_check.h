// The checks a request passes before it is run or queued, made from its fields alone (no file read,
// nothing decoded): a request that cannot be carried out fails at once with an Error naming the
// field, not after it waited in the queue.
#pragma once

#include "qwenvl/engine.h"
#include "runtime/model_context.h"

namespace qwenvl::runtime {

// The most alternatives SamplingParams::logprobs may ask for (OpenAI's bound).
inline constexpr int kMaxLogprobs = 20;

// Throws Error(kInvalidArgument) for SamplingParams::logprobs outside -1..kMaxLogprobs, and for a
// Request::prompt_ids that is empty, holds an id that is no token of the model's vocabulary or a
// vision pad, or comes with media in the messages.
void CheckRequest(const ModelContext& context, const Request& request);

}  // namespace qwenvl::runtime
