// Added tokens ("added_tokens" of tokenizer.json: <|im_start|>, <|image_pad|>, <tool_call>, ...)
// are matched in the raw text before anything else, like HF tokenizers' AddedVocabulary: the text
// is cut at every occurrence, the leftmost match wins and among matches starting at one place the
// longest wins; each occurrence becomes its one id and only the text between goes through
// normalization, pre-tokenization and BPE.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "qwenvl/token_id.h"

namespace qwenvl::text {

struct AddedToken {
  std::string content;
  TokenId id = -1;
  bool special = false;      // dropped by Decode(skip_special_tokens)
  bool lstrip = false;       // also swallows the whitespace before it
  bool rstrip = false;       // also swallows the whitespace after it
  bool single_word = false;  // only matches when not inside a word
  // normalized=true asks HF to match on normalized text; Qwen's are all false and this matcher
  // always looks at the raw text (for NFC the difference needs a token whose content is not
  // NFC-stable).
  bool normalized = false;
};

// A run of the input: plain text (token_id == -1) or one added token.
struct TextSegment {
  std::string_view text;
  TokenId token_id = -1;
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens);

  // Cuts `text` into plain runs and added tokens, in order. Empty plain runs are left out.
  std::vector<TextSegment> Split(std::string_view text) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  struct Match {
    size_t begin = 0;  // span swallowed, including lstrip/rstrip whitespace
    size_t end = 0;
    TokenId id = -1;
  };
  // Finds the leftmost-longest match starting at or after `from`; false when there is none.
  bool FindNext(std::string_view text, size_t from, Match* match) const;
  bool MatchAt(std::string_view text, size_t pos, size_t* length, const AddedToken** token) const;

  std::vector<AddedToken> tokens_;
  // Indices into tokens_ by first byte, longest content first.
  std::array<std::vector<uint32_t>, 256> by_first_byte_;
};

}  // namespace qwenvl::text
