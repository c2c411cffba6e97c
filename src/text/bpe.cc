// BPE merging by rank (see bpe.h). The merge order reproduces HF tokenizers' BPE::merge_word: the
// pair with the lowest rank is merged first, the leftmost one on ties.
#include "text/bpe.h"

#include <algorithm>
#include <limits>

namespace qwenvl::text {
namespace {

// Words up to this many symbols are merged by rescanning all pairs after each merge: O(n^2)
// lookups, but no heap and no allocation, which is faster for the short words that make up ordinary
// text.
constexpr size_t kSmallWord = 24;

uint64_t PairKey(TokenId left, TokenId right) {
  static_assert(sizeof(TokenId) == 4, "a pair key packs two ids into 64 bits");
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

uint64_t Hash(uint64_t key) {
  key ^= key >> 31;
  key *= 0x9E3779B97F4A7C15ull;
  return key ^ (key >> 29);
}

// A candidate merge of the symbol at `pos` with the one after it, as it was when pushed.
struct Candidate {
  int32_t rank;
  int32_t pos;
  TokenId left;
  TokenId right;
  TokenId merged;
};

// Orders the heap so that the top is the lowest rank, then the leftmost position.
bool LaterThan(const Candidate& a, const Candidate& b) {
  return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
}

}  // namespace

BpeMerges::BpeMerges(const std::vector<Merge>& merges) {
  size_t capacity = 16;
  while (capacity < merges.size() * 2) capacity *= 2;
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const Merge& m = merges[rank];
    Insert(PairKey(m.left, m.right), static_cast<int32_t>(rank), m.merged);
  }
}

void BpeMerges::Insert(uint64_t key, int32_t rank, TokenId merged) {
  for (uint64_t i = Hash(key) & mask_;; i = (i + 1) & mask_) {
    Slot& slot = slots_[i];
    if (slot.key == key) return;  // keep the lowest rank of a repeated pair
    if (slot.key == kEmpty) {
      slot = Slot{key, rank, merged};
      ++count_;
      return;
    }
  }
}

bool BpeMerges::Find(TokenId left, TokenId right, int32_t* rank, TokenId* merged) const {
  if (slots_.empty()) return false;
  const uint64_t key = PairKey(left, right);
  for (uint64_t i = Hash(key) & mask_;; i = (i + 1) & mask_) {
    const Slot& slot = slots_[i];
    if (slot.key == key) {
      *rank = slot.rank;
      *merged = slot.merged;
      return true;
    }
    if (slot.key == kEmpty) return false;
  }
}

void BpeMerges::Apply(std::vector<TokenId>* symbols) const {
  if (symbols->size() < 2) return;
  if (symbols->size() <= kSmallWord) {
    ApplySmall(symbols);
  } else {
    ApplyHeap(symbols);
  }
}

void BpeMerges::ApplySmall(std::vector<TokenId>* symbols) const {
  std::vector<TokenId>& s = *symbols;
  while (s.size() > 1) {
    int32_t best_rank = std::numeric_limits<int32_t>::max();
    TokenId best_merged = -1;
    size_t best = s.size();
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      int32_t rank = 0;
      TokenId merged = 0;
      if (Find(s[i], s[i + 1], &rank, &merged) && rank < best_rank) {
        best_rank = rank;
        best_merged = merged;
        best = i;
      }
    }
    if (best == s.size()) return;
    s[best] = best_merged;
    s.erase(s.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
}

void BpeMerges::ApplyHeap(std::vector<TokenId>* symbols) const {
  std::vector<TokenId>& s = *symbols;
  const auto n = static_cast<int32_t>(s.size());
  // Doubly linked list over the symbols; a merged-away symbol gets id -1.
  std::vector<int32_t> prev(n);
  std::vector<int32_t> next(n);
  for (int32_t i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  std::vector<Candidate> heap;
  heap.reserve(s.size());
  auto push = [&](int32_t pos) {
    if (pos < 0 || next[pos] < 0) return;
    Candidate c{0, pos, s[pos], s[next[pos]], 0};
    if (!Find(c.left, c.right, &c.rank, &c.merged)) return;
    heap.push_back(c);
    std::push_heap(heap.begin(), heap.end(), LaterThan);
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), LaterThan);
    const Candidate c = heap.back();
    heap.pop_back();
    // Skip candidates made stale by an earlier merge: either side has changed since the push.
    const int32_t right_pos = next[c.pos];
    if (s[c.pos] != c.left || right_pos < 0 || s[right_pos] != c.right) continue;
    s[c.pos] = c.merged;
    s[right_pos] = -1;
    next[c.pos] = next[right_pos];
    if (next[c.pos] >= 0) prev[next[c.pos]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  s.erase(std::remove(s.begin(), s.end(), -1), s.end());
}

}  // namespace qwenvl::text
