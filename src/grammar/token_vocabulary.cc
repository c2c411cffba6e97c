#include "grammar/token_vocabulary.h"

#include <algorithm>
#include <bit>

namespace qwenvl::grammar {

TokenVocabulary::TokenVocabulary(std::vector<std::string> bytes, std::vector<TokenId> end_tokens)
    : bytes_(std::move(bytes)), end_tokens_(std::move(end_tokens)) {
  for (size_t i = 0; i < bytes_.size(); ++i)
    if (!bytes_[i].empty()) order_.push_back(static_cast<TokenId>(i));
  std::sort(order_.begin(), order_.end(),
            [&](TokenId a, TokenId b) { return bytes_[a] < bytes_[b]; });
  lcp_.resize(order_.size(), 0);
  for (size_t i = 1; i < order_.size(); ++i) {
    const std::string& a = bytes_[order_[i - 1]];
    const std::string& b = bytes_[order_[i]];
    const size_t n = std::min({a.size(), b.size(), size_t{65535}});
    size_t k = 0;
    while (k < n && a[k] == b[k]) ++k;
    lcp_[i] = static_cast<uint16_t>(k);
  }
}

bool TokenVocabulary::IsEnd(TokenId id) const {
  return std::find(end_tokens_.begin(), end_tokens_.end(), id) != end_tokens_.end();
}

size_t TokenMask::Count() const {
  size_t n = 0;
  for (uint64_t w : words_) n += static_cast<size_t>(std::popcount(w));
  return n;
}

}  // namespace qwenvl::grammar
