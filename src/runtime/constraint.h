// Request::constraint compiled into a grammar over the model's tokens, and the step that applies
// it: before each token is sampled, the logits of the tokens the grammar refuses become -inf, so
// the sampler (greedy or not) only ever picks an allowed one and its probabilities are those of
// the allowed tokens renormalized.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "grammar/matcher.h"
#include "qwenvl/engine.h"
#include "text/tokenizer.h"
#include "util/lru_cache.h"

namespace qwenvl::runtime {

// The compiled constraints of recent requests, by kind and text: a client that sends the same
// schema with every request compiles it once, and its parser states and masks are reused.
// Thread-safe.
class ConstraintCache {
 public:
  // logits_width: the model's vocabulary rows (ids past the tokenizer's are never allowed);
  // end_tokens: the ids that end an answer.
  ConstraintCache(const text::Tokenizer& tokenizer, int64_t logits_width,
                  std::vector<TokenId> end_tokens);

  // Null for kNone. Throws Error(kInvalidArgument) for a schema or grammar that does not compile.
  std::shared_ptr<grammar::CompiledGrammar> Get(const OutputConstraint& constraint);

 private:
  const grammar::TokenVocabulary& Vocabulary();  // built on first use (mu_ held)

  const text::Tokenizer& tokenizer_;
  const int64_t logits_width_;
  const std::vector<TokenId> end_tokens_;
  std::mutex mu_;
  std::shared_ptr<const grammar::TokenVocabulary> vocabulary_;
  LruCache<std::string, std::shared_ptr<grammar::CompiledGrammar>> compiled_{32};
};

// Sets the logits of the tokens `mask` refuses to -inf.
void ApplyTokenMask(const grammar::TokenMask& mask, std::span<float> logits);

}  // namespace qwenvl::runtime
