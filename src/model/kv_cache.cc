#include "model/kv_cache.h"

#include <string>

#include "util/error.h"

namespace qwenvl::model {

KvCache::KvCache(int64_t num_layers, int64_t capacity, int64_t num_kv_heads, int64_t head_dim)
    : num_layers_(num_layers), capacity_(capacity), row_size_(num_kv_heads * head_dim) {
  if (num_layers <= 0 || capacity <= 0 || row_size_ <= 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "KV cache: layers, capacity and row size must be positive, got " +
                    std::to_string(num_layers) + ", " + std::to_string(capacity) + ", " +
                    std::to_string(row_size_));
  }
  const auto total = static_cast<size_t>(num_layers * capacity * row_size_);
  keys_.resize(total);
  values_.resize(total);
}

void KvCache::Advance(int64_t n) {
  if (n < 0 || length_ + n > capacity_) {
    throw Error(ErrorCode::kOutOfRange, "KV cache: " + std::to_string(length_) + " + " +
                                            std::to_string(n) + " tokens exceed the capacity " +
                                            std::to_string(capacity_));
  }
  length_ += n;
}

void KvCache::Truncate(int64_t new_length) {
  QWENVL_CHECK(new_length >= 0 && new_length <= length_);
  length_ = new_length;
}

}  // namespace qwenvl::model
