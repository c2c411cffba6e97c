// The decoder's key/value cache for one sequence (model-spec §4): post-RoPE keys and values of
// every layer, preallocated for a maximum length so that appending never allocates. Forward passes
// append at length(); later calls continue the same sequence (decode steps, multi-turn prompts).
#pragma once

#include <cstdint>
#include <vector>

namespace qwenvl::model {

class KvCache {
 public:
  // capacity: the most tokens the sequence may hold.
  KvCache(int64_t num_layers, int64_t capacity, int64_t num_kv_heads, int64_t head_dim);

  int64_t capacity() const { return capacity_; }
  int64_t length() const { return length_; }
  int64_t num_layers() const { return num_layers_; }
  // Floats per cached row: num_kv_heads · head_dim.
  int64_t row_size() const { return row_size_; }

  // [capacity, num_kv_heads, head_dim] of one layer; rows [0, length) are valid.
  float* keys(int64_t layer) { return keys_.data() + layer * capacity_ * row_size_; }
  float* values(int64_t layer) { return values_.data() + layer * capacity_ * row_size_; }
  const float* keys(int64_t layer) const { return keys_.data() + layer * capacity_ * row_size_; }
  const float* values(int64_t layer) const {
    return values_.data() + layer * capacity_ * row_size_;
  }

  // Marks n more rows valid (they were written by the caller). Throws Error when past capacity.
  void Advance(int64_t n);
  // Forgets rows [new_length, length): the next append overwrites them.
  void Truncate(int64_t new_length);
  void Clear() { length_ = 0; }

 private:
  int64_t num_layers_;
  int64_t capacity_;
  int64_t row_size_;
  int64_t length_ = 0;
  std::vector<float> keys_;    // [num_layers, capacity, row_size]
  std::vector<float> values_;  // [num_layers, capacity, row_size]
};

}  // namespace qwenvl::model
