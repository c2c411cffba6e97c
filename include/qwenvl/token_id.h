// The one type of a token id, from the tokenizer through the model to the answer.
#pragma once

#include <cstdint>

namespace qwenvl {

// An index into the model's vocabulary (151,936 embedding rows for Qwen2.5-VL). 32 bits hold every
// id with room to spare and halve the id arrays of prompts, caches and answers; positions, row
// indices and counts stay int64_t.
using TokenId = int32_t;

}  // namespace qwenvl
