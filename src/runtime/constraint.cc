#include "runtime/constraint.h"

#include <algorithm>
#include <limits>

#include "grammar/constraint_gbnf.h"
#include "grammar/gbnf.h"

namespace qwenvl::runtime {

ConstraintCache::ConstraintCache(const text::Tokenizer& tokenizer, int64_t logits_width,
                                 std::vector<TokenId> end_tokens)
    : tokenizer_(tokenizer), logits_width_(logits_width), end_tokens_(std::move(end_tokens)) {}

const grammar::TokenVocabulary& ConstraintCache::Vocabulary() {
  if (!vocabulary_) {
    // Special tokens (<|im_start|>, <|vision_start|>, ...) write no answer text: never allowed,
    // except the end tokens once the answer is complete.
    std::vector<std::string> bytes(static_cast<size_t>(logits_width_));
    const int64_t n = std::min<int64_t>(logits_width_, tokenizer_.vocab_size());
    for (int64_t id = 0; id < n; ++id) {
      if (!tokenizer_.IsSpecial(static_cast<TokenId>(id)))
        tokenizer_.AppendTokenBytes(static_cast<TokenId>(id), false, &bytes[id]);
    }
    vocabulary_ = std::make_shared<grammar::TokenVocabulary>(std::move(bytes), end_tokens_);
  }
  return *vocabulary_;
}

std::shared_ptr<grammar::CompiledGrammar> ConstraintCache::Get(const OutputConstraint& constraint) {
  if (constraint.kind == OutputConstraint::Kind::kNone) return nullptr;
  const std::string key = std::to_string(static_cast<int>(constraint.kind)) + ":" + constraint.text;
  std::lock_guard lock(mu_);
  if (const auto* hit = compiled_.Find(key)) return *hit;
  grammar::Grammar g = grammar::ParseGbnf(grammar::ConstraintGbnf(constraint));
  Vocabulary();
  auto compiled = std::make_shared<grammar::CompiledGrammar>(std::move(g), vocabulary_);
  compiled_.Put(key, compiled);
  return compiled;
}

void ApplyTokenMask(const grammar::TokenMask& mask, std::span<float> logits) {
  constexpr float kRefused = -std::numeric_limits<float>::infinity();
  const auto& words = mask.words();
  const size_t n = std::min(logits.size(), mask.size());
  for (size_t w = 0; w * 64 < n; ++w) {
    const uint64_t bits = words[w];
    const size_t begin = w * 64, end = std::min(n, begin + 64);
    if (bits == ~uint64_t{0}) continue;
    if (bits == 0) {  // most words, where the grammar expects a structural character
      std::fill(logits.begin() + begin, logits.begin() + end, kRefused);
      continue;
    }
    for (size_t i = begin; i < end; ++i)
      if (!((bits >> (i - begin)) & 1)) logits[i] = kRefused;
  }
  std::fill(logits.begin() + n, logits.end(), kRefused);
}

}  // namespace qwenvl::runtime
