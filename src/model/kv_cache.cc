#include "model/kv_cache.h"

#include <algorithm>
#include <cstddef>
#include <string>

#include "util/error.h"

namespace qwenvl::model {

KvCache::KvCache(compute::Backend& backend, int64_t num_layers, int64_t capacity,
                 int64_t num_kv_heads, int64_t head_dim, KvType type)
    : backend_(&backend),
      num_layers_(num_layers),
      capacity_(capacity),
      num_kv_heads_(num_kv_heads),
      head_dim_(head_dim),
      row_size_(num_kv_heads * head_dim),
      type_(type),
      row_floats_(num_kv_heads > 0 && head_dim > 0 ? KvRowFloats(type, num_kv_heads, head_dim)
                                                   : 0) {
  if (num_layers <= 0 || capacity <= 0 || row_size_ <= 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "KV cache: layers, capacity and row size must be positive, got " +
                    std::to_string(num_layers) + ", " + std::to_string(capacity) + ", " +
                    std::to_string(row_size_));
  }
  keys_.resize(static_cast<size_t>(num_layers));
  values_.resize(static_cast<size_t>(num_layers));
}

int64_t KvCache::allocated_bytes() const {
  return 2 * num_layers_ * reserved_ * row_floats_ * static_cast<int64_t>(sizeof(float));
}

void KvCache::Reserve(int64_t rows) {
  if (rows > capacity_) {
    throw Error(ErrorCode::kOutOfRange, "KV cache: " + std::to_string(rows) +
                                            " tokens exceed the capacity " +
                                            std::to_string(capacity_));
  }
  if (rows <= reserved_) return;
  // Whole chunks, and at least 1.5× the current size so that a long generation grows O(log n)
  // times (each growth copies the valid rows once).
  int64_t target = (rows + kChunkTokens - 1) / kChunkTokens * kChunkTokens;
  target = std::min(capacity_, std::max(target, reserved_ + reserved_ / 2));
  for (auto* layers : {&keys_, &values_}) {
    for (compute::Buffer& old : *layers) {
      compute::Buffer grown = backend_->Allocate(target, row_floats_);
      if (length_ > 0) backend_->Copy(old.Rows(0, length_), grown.Rows(0, length_));
      old = std::move(grown);
    }
  }
  reserved_ = target;
}

void KvCache::Advance(int64_t n) {
  if (n < 0 || length_ + n > capacity_) {
    throw Error(ErrorCode::kOutOfRange, "KV cache: " + std::to_string(length_) + " + " +
                                            std::to_string(n) + " tokens exceed the capacity " +
                                            std::to_string(capacity_));
  }
  QWENVL_CHECK(length_ + n <= reserved_);
  length_ += n;
}

void KvCache::CopyPrefix(const KvCache& from, int64_t rows) {
  QWENVL_CHECK(&from != this && from.backend_ == backend_ && from.num_layers_ == num_layers_ &&
               from.row_size_ == row_size_ && from.type_ == type_ && rows >= 0 &&
               rows <= from.length_);
  length_ = 0;  // nothing of the old contents is kept, so growing copies none of it
  Reserve(rows);
  if (rows > 0) {
    for (int64_t l = 0; l < num_layers_; ++l) {
      backend_->Copy(from.keys_[l].Rows(0, rows), keys_[l].Rows(0, rows));
      backend_->Copy(from.values_[l].Rows(0, rows), values_[l].Rows(0, rows));
    }
  }
  length_ = rows;
}

void KvCache::Truncate(int64_t new_length) {
  QWENVL_CHECK(new_length >= 0 && new_length <= length_);
  length_ = new_length;
}

}  // namespace qwenvl::model
