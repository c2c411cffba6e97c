#include "runtime/context_length.h"

#include <algorithm>
#include <string>

#include "util/error.h"

namespace qwenvl::runtime {

int64_t KvCacheBytesPerToken(const io::TextConfig& text, KvType type) {
  return 2 * text.num_hidden_layers * KvRowBytes(type, text.num_key_value_heads, text.head_dim());
}

int64_t ResolveContextLength(int64_t requested, const io::TextConfig& text, int64_t physical_memory,
                             KvType kv_type) {
  const int64_t model_limit = text.max_position_embeddings;
  if (requested < 0 || (requested > 0 && requested < 16)) {
    throw Error(ErrorCode::kInvalidArgument,
                "context length must be at least 16 tokens (or 0 for the default), got " +
                    std::to_string(requested));
  }
  if (requested > 0) {
    if (model_limit > 0 && requested > model_limit) {
      throw Error(ErrorCode::kInvalidArgument,
                  "context length " + std::to_string(requested) +
                      " is above the model's max_position_embeddings of " +
                      std::to_string(model_limit));
    }
    return requested;
  }
  int64_t length = kDefaultContextLength;
  if (model_limit > 0) length = std::min(length, model_limit);
  const int64_t per_token = KvCacheBytesPerToken(text, kv_type);
  const int64_t floor = std::min(length, kSmallestDefaultContext);
  if (physical_memory > 0 && per_token > 0) {
    while (length / 2 >= floor && length * per_token > physical_memory / 4) length /= 2;
  }
  return std::max<int64_t>(length, 16);
}

}  // namespace qwenvl::runtime
