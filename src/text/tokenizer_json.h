// Reads HF tokenizers' tokenizer.json into a plain description of the pipeline the tokenizer runs:
// added tokens, NFC or no normalizer, an optional Split regex followed by ByteLevel
// pre-tokenization, a byte-level BPE model and the ByteLevel decoder. Anything else (another model
// type, dropout, byte_fallback, a Split behavior other than Isolated, ...) is refused with
// Error(kUnsupported) rather than tokenized differently from the reference.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "text/added_tokens.h"

namespace qwenvl::text {

struct TokenizerSpec {
  std::string source;                                  // the file it was read from, for messages
  std::vector<std::pair<std::string, TokenId>> vocab;  // model.vocab: byte-level token -> id
  std::vector<std::pair<std::string, std::string>> merges;  // model.merges in rank order
  std::vector<AddedToken> added_tokens;
  bool nfc = false;            // normalizer is NFC
  std::string split_pattern;   // the Split pre-tokenizer's regex; empty when there is none
  bool ignore_merges = false;  // model.ignore_merges: a word found whole in the vocab skips BPE
};

// Throws Error naming `path`: kNotFound / kIo when it cannot be read, kCorruptFile when it is not
// JSON or lacks a required field, kUnsupported for a valid file this tokenizer does not implement.
TokenizerSpec ReadTokenizerJson(const std::string& path);

// The same from the file's text; `source` names it in messages.
TokenizerSpec ParseTokenizerJson(std::string_view json_text, const std::string& source);

}  // namespace qwenvl::text
