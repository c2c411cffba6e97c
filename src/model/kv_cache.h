// The decoder's key/value cache for one sequence (model-spec §4): post-RoPE keys and values of
// every layer. Storage grows with the sequence in chunks of tokens (Reserve), up to a maximum
// length, so that a long context limit costs memory only when it is used; decode steps inside a
// chunk never allocate. Each layer's keys and values are a buffer of their own, not one arena:
// growing copies the valid rows, and buffer by buffer the copy's peak is one layer's new storage
// rather than the whole cache's. Forward passes append at length(); later calls continue the same
// sequence (decode steps, multi-turn prompts). Rows are stored in the cache's KvType (float32,
// bfloat16 or q8, converted as they are written by Backend::StoreKv), and attention reads them in
// that type.
#pragma once

#include <cstdint>
#include <vector>

#include "compute/backend.h"

namespace qwenvl::model {

class KvCache {
 public:
  // Tokens added to the storage at a time (at least; growth is also geometric).
  static constexpr int64_t kChunkTokens = 256;

  // capacity: the most tokens the sequence may hold. No storage is allocated until Reserve; the
  // storage is the backend's, which must outlive the cache.
  KvCache(compute::Backend& backend, int64_t num_layers, int64_t capacity, int64_t num_kv_heads,
          int64_t head_dim, KvType type = KvType::kF32);

  int64_t capacity() const { return capacity_; }
  int64_t length() const { return length_; }
  int64_t num_layers() const { return num_layers_; }
  KvType type() const { return type_; }
  int64_t num_kv_heads() const { return num_kv_heads_; }
  int64_t head_dim() const { return head_dim_; }
  // Values per cached row: num_kv_heads · head_dim.
  int64_t row_size() const { return row_size_; }
  // Floats of storage per cached row: KvRowFloats(type, num_kv_heads, head_dim).
  int64_t row_floats() const { return row_floats_; }
  // Tokens the storage holds now (≥ length(), ≤ capacity()).
  int64_t reserved() const { return reserved_; }
  // Bytes of keys and values allocated now.
  int64_t allocated_bytes() const;

  // Makes rows [0, rows) writable (rows ≤ capacity, else Error), keeping the valid ones. Tensors
  // from keys()/values() are invalidated when the storage grows.
  void Reserve(int64_t rows);

  // [reserved, row_floats] of one layer, rows in the stored type; rows [0, length) are valid.
  const compute::Tensor& keys(int64_t layer) const { return keys_[layer].tensor(); }
  const compute::Tensor& values(int64_t layer) const { return values_[layer].tensor(); }

  // Marks n more rows valid (they were written by the caller, within reserved()). Throws Error
  // when past capacity.
  void Advance(int64_t n);
  // Forgets rows [new_length, length): the next append overwrites them.
  void Truncate(int64_t new_length);
  void Clear() { length_ = 0; }
  // Becomes a copy of the first `rows` valid rows of `from`, a cache of the same shape on the same
  // backend (the old contents go): another sequence's prefix without computing it again. The
  // caches are contiguous per sequence, not paged, so sharing a prefix means copying its rows.
  void CopyPrefix(const KvCache& from, int64_t rows);

 private:
  compute::Backend* backend_;
  int64_t num_layers_;
  int64_t capacity_;
  int64_t num_kv_heads_;
  int64_t head_dim_;
  int64_t row_size_;
  KvType type_;
  int64_t row_floats_;
  int64_t length_ = 0;
  int64_t reserved_ = 0;
  std::vector<compute::Buffer> keys_;    // [num_layers] of [reserved, row_floats]
  std::vector<compute::Buffer> values_;  // [num_layers] of [reserved, row_floats]
};

}  // namespace qwenvl::model
