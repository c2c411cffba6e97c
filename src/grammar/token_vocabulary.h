// The model's tokens as the grammar sees them: the bytes each one writes, sorted so that tokens
// sharing a prefix are neighbours (a mask walks them as a prefix tree, computing each shared prefix
// once and skipping every token under a prefix the grammar refuses).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qwenvl/token_id.h"

namespace qwenvl::grammar {

class TokenVocabulary {
 public:
  // bytes[id]: what token `id` writes; empty for ids a constrained answer never holds (special
  // tokens, unused rows of the embedding). end_tokens: the ids that end the answer (allowed once
  // the grammar is complete). bytes.size() is the width of the logits.
  TokenVocabulary(std::vector<std::string> bytes, std::vector<TokenId> end_tokens);

  size_t size() const { return bytes_.size(); }
  const std::string& bytes(TokenId id) const { return bytes_[id]; }
  const std::vector<TokenId>& end_tokens() const { return end_tokens_; }
  bool IsEnd(TokenId id) const;
  // Non-empty tokens in byte order, and lcp[i]: the bytes token order[i] shares with order[i-1].
  const std::vector<TokenId>& order() const { return order_; }
  const std::vector<uint16_t>& lcp() const { return lcp_; }

 private:
  std::vector<std::string> bytes_;
  std::vector<TokenId> end_tokens_;
  std::vector<TokenId> order_;
  std::vector<uint16_t> lcp_;
};

// One bit per token id.
class TokenMask {
 public:
  explicit TokenMask(size_t size) : words_((size + 63) / 64, 0), size_(size) {}
  void Set(TokenId id) { words_[id >> 6] |= uint64_t{1} << (id & 63); }
  bool Test(TokenId id) const { return (words_[id >> 6] >> (id & 63)) & 1; }
  size_t size() const { return size_; }
  size_t Count() const;
  const std::vector<uint64_t>& words() const { return words_; }

 private:
  std::vector<uint64_t> words_;
  size_t size_;
};

}  // namespace qwenvl::grammar
