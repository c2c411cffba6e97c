// Shared by the grammar tests: a compiled grammar over a byte vocabulary (every single byte a
// token, plus any extra tokens), and whole-text acceptance.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "grammar/gbnf.h"
#include "grammar/matcher.h"

namespace qwenvl::grammar::testing {

// Tokens 0..255 are the single bytes, then `extra` in order, then one end token.
inline std::shared_ptr<const TokenVocabulary> ByteVocabulary(
    const std::vector<std::string>& extra = {}) {
  std::vector<std::string> bytes;
  for (int c = 0; c < 256; ++c) bytes.push_back(std::string(1, static_cast<char>(c)));
  bytes.insert(bytes.end(), extra.begin(), extra.end());
  bytes.push_back("");
  const TokenId end = static_cast<TokenId>(bytes.size() - 1);
  return std::make_shared<TokenVocabulary>(std::move(bytes), std::vector<TokenId>{end});
}

inline std::shared_ptr<CompiledGrammar> Compile(
    std::string_view gbnf, std::shared_ptr<const TokenVocabulary> vocab = nullptr) {
  return std::make_shared<CompiledGrammar>(ParseGbnf(gbnf), vocab ? vocab : ByteVocabulary());
}

// True when `text` is a whole sentence of the grammar.
inline bool Matches(CompiledGrammar& g, std::string_view text) {
  const int32_t s = g.Advance(g.initial_state(), text);
  return s != CompiledGrammar::kDead && g.CanEnd(s);
}

// True when `text` can be continued to a sentence (or is one).
inline bool IsPrefix(CompiledGrammar& g, std::string_view text) {
  return g.Advance(g.initial_state(), text) != CompiledGrammar::kDead;
}

}  // namespace qwenvl::grammar::testing
