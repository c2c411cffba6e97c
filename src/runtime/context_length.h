// The context length an engine runs with: the one asked for, or by default 32768 tokens (the
// published models' cards) where the model and the machine allow it.
#pragma once

#include <cstdint>

#include "io/model_config.h"
#include "qwenvl/kv_type.h"

namespace qwenvl::runtime {

inline constexpr int64_t kDefaultContextLength = 32768;
// The default never goes below this for lack of memory (a smaller machine still gets a context
// that holds a picture and an answer; the cache grows only as far as a request uses it).
inline constexpr int64_t kSmallestDefaultContext = 4096;

// Bytes one sequence's key/value cache holds per token: keys and values of every layer, stored as
// `type`.
int64_t KvCacheBytesPerToken(const io::TextConfig& text, KvType type = KvType::kF32);

// requested > 0: that length, refused (Error(kInvalidArgument)) below 16 or above the model's
// max_position_embeddings. requested == 0: kDefaultContextLength, lowered to
// max_position_embeddings, and halved (not below kSmallestDefaultContext or the model's limit)
// while one sequence's full cache would take more than a quarter of physical_memory (bytes; <= 0:
// unknown, not checked). The cache is allocated as it fills, so the length is a bound, not an
// allocation.
int64_t ResolveContextLength(int64_t requested, const io::TextConfig& text, int64_t physical_memory,
                             KvType kv_type = KvType::kF32);

}  // namespace qwenvl::runtime
