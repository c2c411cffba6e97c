// StreamDecoder: incremental decoding that never splits a UTF-8 character (see tokenizer.h).
#include "text/tokenizer.h"
#include "text/utf8.h"

namespace qwenvl::text {

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(&tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string StreamDecoder::Push(TokenId id) {
  tokenizer_->AppendTokenBytes(id, skip_special_tokens_, &pending_);
  // Everything but an unfinished last character is final: repairing it now gives the same text as
  // repairing the whole stream at the end, because the repair never looks past a character's
  // length.
  const size_t keep = IncompleteUtf8Tail(pending_);
  const std::string_view ready(pending_.data(), pending_.size() - keep);
  std::string out = IsValidUtf8(ready) ? std::string(ready) : SanitizeUtf8(ready);
  pending_.erase(0, pending_.size() - keep);
  return out;
}

std::string StreamDecoder::Flush() {
  std::string out = SanitizeUtf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace qwenvl::text
