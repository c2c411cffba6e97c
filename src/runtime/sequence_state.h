// The KV cache of one sequence and what it holds, so that a request extending it computes only
// the new tokens.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "model/qwen2_5_vl.h"
#include "qwenvl/token_id.h"

namespace qwenvl::runtime {

// What a KV cache holds (or will hold once a prefill ends): its tokens and the media among them, in
// the form a request compares its prompt with (RequestRun::ReusablePrefix).
struct CacheContents {
  std::span<const TokenId> ids;
  std::span<const std::string> media_keys;
  std::span<const std::pair<int64_t, int64_t>> media_ranges;  // pad runs [begin, end) in ids
};

struct SequenceState {
  SequenceState(const model::Model& model, int64_t capacity) : sequence(model, capacity) {}
  model::Sequence sequence;
  std::vector<TokenId> ids;             // tokens whose keys/values are in the cache
  std::vector<int64_t> max_pos;         // [ids]: largest M-RoPE position up to each token
  std::vector<std::string> media_keys;  // media whose pads are in `ids`
  std::vector<std::pair<int64_t, int64_t>> media_ranges;  // their pad runs [begin, end)
  void Reset() {
    sequence.Reset();
    ids.clear();
    max_pos.clear();
    media_keys.clear();
    media_ranges.clear();
  }
  // Keeps the first n tokens (n <= ids.size(); media cut by n are dropped with their tokens).
  void Truncate(int64_t n);
  // Becomes the first n tokens of `from` (another sequence of the same model; n <=
  // from.ids.size()): their keys and values are copied row for row, so the prefix is not computed
  // again.
  void CopyPrefix(const SequenceState& from, int64_t n);
  CacheContents contents() const { return {ids, media_keys, media_ranges}; }
};

}  // namespace qwenvl::runtime
