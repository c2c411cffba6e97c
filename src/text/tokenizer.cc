// Tokenizer: loading tokenizer.json and the encode/decode pipeline (see tokenizer.h).
#include "text/tokenizer.h"

#include <algorithm>

#include "text/byte_level.h"
#include "text/normalizer.h"
#include "text/tokenizer_json.h"
#include "text/utf8.h"
#include "util/error.h"

namespace qwenvl::text {
namespace {

TokenId LookUp(const std::unordered_map<std::string, TokenId>& map, const std::string& key) {
  const auto it = map.find(key);
  return it == map.end() ? -1 : it->second;
}

}  // namespace

Tokenizer Tokenizer::FromFile(const std::string& tokenizer_json_path) {
  return FromSpec(ReadTokenizerJson(tokenizer_json_path));
}

Tokenizer Tokenizer::FromModelDir(const std::string& dir) {
  return FromFile(dir + "/tokenizer.json");
}

Tokenizer Tokenizer::FromSpec(const TokenizerSpec& spec) {
  Tokenizer t;
  TokenId max_id = -1;
  for (const auto& [token, id] : spec.vocab) max_id = std::max(max_id, id);
  for (const AddedToken& token : spec.added_tokens) max_id = std::max(max_id, token.id);
  for (const auto& [token, id] : spec.vocab) {
    if (id < 0)
      throw Error(ErrorCode::kCorruptFile,
                  spec.source + ": token '" + token + "' has id " + std::to_string(id));
  }
  t.id_to_token_.resize(static_cast<size_t>(max_id + 1));
  t.special_.assign(static_cast<size_t>(max_id + 1), 0);
  t.token_to_id_.reserve(spec.vocab.size() + spec.added_tokens.size());
  for (const auto& [token, id] : spec.vocab) {
    t.id_to_token_[id] = token;
    t.token_to_id_.emplace(token, id);
  }
  for (const AddedToken& token : spec.added_tokens) {
    if (token.id < 0) {
      throw Error(ErrorCode::kCorruptFile, spec.source + ": added token '" + token.content +
                                               "' has id " + std::to_string(token.id));
    }
    t.id_to_token_[token.id] = token.content;
    t.token_to_id_[token.content] = token.id;
    t.special_[token.id] = token.special ? 1 : 0;
  }
  for (int b = 0; b < 256; ++b) {
    t.byte_ids_[b] = LookUp(t.token_to_id_, ByteLevelChar(static_cast<uint8_t>(b)));
  }
  std::vector<BpeMerges::Merge> merges;
  merges.reserve(spec.merges.size());
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const auto& [left, right] = spec.merges[rank];
    const BpeMerges::Merge m{LookUp(t.token_to_id_, left), LookUp(t.token_to_id_, right),
                             LookUp(t.token_to_id_, left + right)};
    if (m.left < 0 || m.right < 0 || m.merged < 0) {
      throw Error(ErrorCode::kCorruptFile, spec.source + ": merge #" + std::to_string(rank) + " '" +
                                               left + " " + right +
                                               "' uses a token not in the vocab");
    }
    merges.push_back(m);
  }
  t.merges_ = BpeMerges(merges);
  t.added_ = AddedTokenMatcher(spec.added_tokens);
  if (!spec.split_pattern.empty()) t.splitter_.emplace(spec.split_pattern, spec.source);
  t.nfc_ = spec.nfc;
  t.ignore_merges_ = spec.ignore_merges;
  return t;
}

std::vector<TokenId> Tokenizer::Encode(std::string_view text) const {
  // Repair ill-formed UTF-8 first (see tokenizer.h): Oniguruma and utf8proc need valid input.
  std::string repaired;
  if (!IsValidUtf8(text)) {
    repaired = SanitizeUtf8(text);
    text = repaired;
  }
  std::vector<TokenId> ids;
  ids.reserve(text.size() / 3 + 1);
  for (const TextSegment& segment : added_.Split(text)) {
    if (segment.token_id >= 0) {
      ids.push_back(segment.token_id);
    } else if (nfc_) {
      EncodePlain(NormalizeNfc(segment.text), &ids);
    } else {
      EncodePlain(segment.text, &ids);
    }
  }
  return ids;
}

void Tokenizer::EncodePlain(std::string_view text, std::vector<TokenId>* ids) const {
  if (!splitter_) {
    EncodePiece(text, ids);
    return;
  }
  std::vector<std::string_view> pieces;
  splitter_->Split(text, &pieces);
  for (std::string_view piece : pieces) EncodePiece(piece, ids);
}

void Tokenizer::EncodePiece(std::string_view piece, std::vector<TokenId>* ids) const {
  if (ignore_merges_) {
    const auto it = token_to_id_.find(ByteLevelEncode(piece));
    if (it != token_to_id_.end()) {
      ids->push_back(it->second);
      return;
    }
  }
  std::vector<TokenId> symbols;
  symbols.reserve(piece.size());
  for (char c : piece) {
    // A byte with no vocabulary character is dropped, as HF's BPE does without an unk_token.
    const TokenId id = byte_ids_[static_cast<uint8_t>(c)];
    if (id >= 0) symbols.push_back(id);
  }
  merges_.Apply(&symbols);
  ids->insert(ids->end(), symbols.begin(), symbols.end());
}

void Tokenizer::AppendTokenBytes(TokenId id, bool skip_special_tokens, std::string* out) const {
  if (id < 0 || id >= vocab_size()) return;
  if (skip_special_tokens && special_[id]) return;
  ByteLevelDecode(id_to_token_[id], out);
}

std::string Tokenizer::Decode(std::span<const TokenId> ids, bool skip_special_tokens) const {
  std::string bytes;
  for (TokenId id : ids) AppendTokenBytes(id, skip_special_tokens, &bytes);
  return IsValidUtf8(bytes) ? bytes : SanitizeUtf8(bytes);
}

TokenId Tokenizer::TokenToId(std::string_view token) const {
  const auto it = token_to_id_.find(std::string(token));
  return it == token_to_id_.end() ? -1 : it->second;
}

std::string Tokenizer::IdToToken(TokenId id) const {
  if (id < 0 || id >= vocab_size()) return "";
  return id_to_token_[id];
}

bool Tokenizer::IsSpecial(TokenId id) const {
  return id >= 0 && id < vocab_size() && special_[id] != 0;
}

}  // namespace qwenvl::text
