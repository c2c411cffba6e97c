// The decoder's key/value cache for one sequence (model-spec §4): post-RoPE keys and values of
// every layer. Storage grows with the sequence in chunks of tokens (Reserve), up to a maximum
// length, so that a long context limit costs memory only when it is used; decode steps inside a
// chunk never allocate. Forward passes append at length(); later calls continue the same sequence
// (decode steps, multi-turn prompts).
#pragma once

#include <cstdint>
#include <vector>

namespace qwenvl::model {

class KvCache {
 public:
  // Tokens added to the storage at a time (at least; growth is also geometric).
  static constexpr int64_t kChunkTokens = 256;

  // capacity: the most tokens the sequence may hold. No storage is allocated until Reserve.
  KvCache(int64_t num_layers, int64_t capacity, int64_t num_kv_heads, int64_t head_dim);

  int64_t capacity() const { return capacity_; }
  int64_t length() const { return length_; }
  int64_t num_layers() const { return num_layers_; }
  // Floats per cached row: num_kv_heads · head_dim.
  int64_t row_size() const { return row_size_; }
  // Tokens the storage holds now (≥ length(), ≤ capacity()).
  int64_t reserved() const { return reserved_; }
  // Bytes of keys and values allocated now.
  int64_t allocated_bytes() const;

  // Makes rows [0, rows) writable (rows ≤ capacity, else Error), keeping the valid ones. Pointers
  // from keys()/values() are invalidated when the storage grows.
  void Reserve(int64_t rows);

  // [reserved, num_kv_heads, head_dim] of one layer; rows [0, length) are valid.
  float* keys(int64_t layer) { return keys_[layer].data(); }
  float* values(int64_t layer) { return values_[layer].data(); }
  const float* keys(int64_t layer) const { return keys_[layer].data(); }
  const float* values(int64_t layer) const { return values_[layer].data(); }

  // Marks n more rows valid (they were written by the caller, within reserved()). Throws Error
  // when past capacity.
  void Advance(int64_t n);
  // Forgets rows [new_length, length): the next append overwrites them.
  void Truncate(int64_t new_length);
  void Clear() { length_ = 0; }

 private:
  int64_t num_layers_;
  int64_t capacity_;
  int64_t row_size_;
  int64_t length_ = 0;
  int64_t reserved_ = 0;
  std::vector<std::vector<float>> keys_;    // [num_layers][reserved, row_size]
  std::vector<std::vector<float>> values_;  // [num_layers][reserved, row_size]
};

}  // namespace qwenvl::model
