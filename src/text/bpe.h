// The BPE merge step of the tokenizer model (HF tokenizers' "BPE" model): a word starts as one
// symbol per byte-level character and the adjacent pair with the lowest merge rank is merged,
// leftmost first on ties, until no adjacent pair has a merge. Symbols form a linked list and
// candidate pairs a binary heap, so a word of n symbols costs O(n log n), not O(n^2): a 100 kB word
// without spaces is fine.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "qwenvl/token_id.h"

namespace qwenvl::text {

class BpeMerges {
 public:
  struct Merge {
    TokenId left = -1;    // token id of the left part
    TokenId right = -1;   // token id of the right part
    TokenId merged = -1;  // token id of the concatenation
  };

  BpeMerges() = default;
  // `merges` in rank order (rank = index). A repeated pair keeps its first (lowest) rank.
  explicit BpeMerges(const std::vector<Merge>& merges);

  // Merges `symbols` (token ids, one per initial character) in place.
  void Apply(std::vector<TokenId>* symbols) const;

  size_t size() const { return count_; }

 private:
  struct Slot {
    uint64_t key = kEmpty;  // (left << 32) | right
    int32_t rank = 0;
    TokenId merged = 0;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  // Finds the merge of (left, right); returns false when the pair has none.
  bool Find(TokenId left, TokenId right, int32_t* rank, TokenId* merged) const;
  void Insert(uint64_t key, int32_t rank, TokenId merged);
  void ApplySmall(std::vector<TokenId>* symbols) const;
  void ApplyHeap(std::vector<TokenId>* symbols) const;

  // Open-addressing hash table, power-of-two capacity, at most half full.
  std::vector<Slot> slots_;
  uint64_t mask_ = 0;
  size_t count_ = 0;
};

}  // namespace qwenvl::text
