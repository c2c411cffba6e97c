// The Qwen2 tokenizer: byte-level BPE loaded from HF tokenizers' tokenizer.json, producing the same
// ids as the reference (transformers' Qwen2TokenizerFast, encode without added special tokens).
//
// Encode: added tokens written in the text (<|im_start|>, <|image_pad|>, ...) become their single
// ids (leftmost, then longest match); the text between them is NFC-normalized, cut by the Split
// regex of the file (Oniguruma), each piece mapped to the byte-level alphabet and merged by BPE
// rank. Decode: ids -> byte-level tokens -> bytes -> text, ill-formed UTF-8 repaired as in utf8.h.
//
// Invalid UTF-8 input (HF requires a valid str) is repaired before anything else: each ill-formed
// subpart becomes U+FFFD, so such text encodes like the repaired string would in the reference.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "qwenvl/token_id.h"
#include "text/added_tokens.h"
#include "text/bpe.h"
#include "text/pretokenizer.h"

namespace qwenvl::text {

struct TokenizerSpec;

class Tokenizer {
 public:
  // Loads tokenizer.json. Throws Error naming the file: kNotFound, kIo, kCorruptFile (malformed
  // JSON, missing fields, a merge of unknown tokens) or kUnsupported (another model or pipeline).
  static Tokenizer FromFile(const std::string& tokenizer_json_path);
  // Loads DIR/tokenizer.json.
  static Tokenizer FromModelDir(const std::string& dir);
  static Tokenizer FromSpec(const TokenizerSpec& spec);

  // Ids of `text` without any added BOS/EOS (Qwen2 adds none). Thread-safe.
  std::vector<TokenId> Encode(std::string_view text) const;
  // Text of `ids`; unknown ids are skipped, as are special added tokens when skip_special_tokens.
  std::string Decode(std::span<const TokenId> ids, bool skip_special_tokens = false) const;

  // Id of a vocabulary or added token written in its byte-level form ("Ġworld", "<|im_end|>"), -1
  // if there is none.
  TokenId TokenToId(std::string_view token) const;
  // The byte-level form of `id`, "" for an id with no token.
  std::string IdToToken(TokenId id) const;
  // True for added tokens marked special (<|im_start|>, <|vision_start|>, ...).
  bool IsSpecial(TokenId id) const;
  // One past the largest token id (151665 for Qwen2.5-VL; the model's embedding rows are padded
  // beyond this).
  int64_t vocab_size() const { return static_cast<int64_t>(id_to_token_.size()); }

  // Appends the raw bytes of token `id` (not yet UTF-8 repaired) unless it is unknown or skipped.
  void AppendTokenBytes(TokenId id, bool skip_special_tokens, std::string* out) const;

 private:
  Tokenizer() = default;
  void EncodePlain(std::string_view text, std::vector<TokenId>* ids) const;
  void EncodePiece(std::string_view piece, std::vector<TokenId>* ids) const;

  std::vector<std::string> id_to_token_;  // [vocab_size] byte-level form, "" where no token
  std::vector<uint8_t> special_;          // [vocab_size] 1 for special added tokens
  std::unordered_map<std::string, TokenId> token_to_id_;
  TokenId byte_ids_[256] = {};  // id of each byte's byte-level character, -1 if absent
  BpeMerges merges_;
  AddedTokenMatcher added_;
  std::optional<RegexSplitter> splitter_;
  bool nfc_ = false;
  bool ignore_merges_ = false;
};

// Turns ids into text one id at a time, as they are generated. Push returns only complete UTF-8:
// bytes of a character split across tokens (CJK, emoji) are held back until the character is
// complete. The concatenation of all Push results and Flush equals Tokenizer::Decode of all the
// ids.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);

  std::string Push(TokenId id);
  // Returns what is still held back (an unfinished character becomes U+FFFD) and resets.
  std::string Flush();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_tokens_;
  std::string pending_;  // at most 3 bytes of an unfinished character
};

}  // namespace qwenvl::text
