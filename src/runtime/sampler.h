// Next-token choice from a row of logits: penalties, then greedy or sampling with temperature,
// top-k, top-p and min-p, with transformers' semantics and order (repetition penalty first, then
// temperature → top-k → top-p → min-p). Sampling is reproducible for a given seed. On request, the
// choice comes with log-probabilities (SamplingParams::logprobs).
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "qwenvl/token_id.h"

namespace qwenvl::runtime {

struct SamplerConfig {
  bool greedy = true;
  float temperature = 1.0f;
  int top_k = 0;                    // 0: off
  float top_p = 1.0f;               // 1: off
  float min_p = 0.0f;               // 0: off
  float repetition_penalty = 1.0f;  // over prompt and generated tokens
  float presence_penalty = 0.0f;    // over generated tokens (OpenAI)
  float frequency_penalty = 0.0f;
  uint64_t seed = 0;
};

// How likely a chosen token was, and the most likely tokens, in the distribution it was drawn
// from: after the penalties, over the tokens temperature, top-k, top-p and min-p kept, renormalised
// (tokens left out have probability 0 and are never listed). A greedy choice is drawn from no
// distribution (its own would give the token probability 1): it reports the softmax of the
// penalised logits at temperature 1, the model's own distribution as the penalties left it.
struct ChoiceLogprobs {
  float logprob = 0.0f;                        // of the chosen token
  std::vector<std::pair<TokenId, float>> top;  // at most top_n, most likely first (ties: lower id)
};

// xoshiro256**, seeded through splitmix64: the same stream on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t Next();
  double Uniform();  // [0, 1)

 private:
  uint64_t s_[4];
};

class Sampler {
 public:
  // prompt: the tokens the repetition penalty covers from the start (image pads included).
  Sampler(const SamplerConfig& config, std::span<const TokenId> prompt);

  // Picks the next token; logits [vocab] are modified in place (penalties, temperature).
  TokenId Sample(std::span<float> logits);
  // The same choice (the same token for the same state and seed), with its log-probability and
  // those of the top_n (>= 0) most likely tokens in *logprobs. The top tokens are found by partial
  // selection, never by sorting the vocabulary.
  TokenId Sample(std::span<float> logits, int top_n, ChoiceLogprobs* logprobs);
  // Records a token as generated (updates penalty state). Sample does not call it.
  void Accept(TokenId token);

  const SamplerConfig& config() const { return config_; }

 private:
  void ApplyPenalties(std::span<float> logits) const;
  TokenId SampleFromDistribution(std::span<const float> logits, int top_n,
                                 ChoiceLogprobs* logprobs);

  SamplerConfig config_;
  Rng rng_;
  std::vector<TokenId> seen_;                       // unique ids of prompt + generated
  std::vector<uint8_t> seen_mask_;                  // by id
  std::unordered_map<TokenId, int32_t> generated_;  // id -> count (presence / frequency)
  std::vector<std::pair<float, TokenId>> scratch_;
};

// The token id of the largest logit (the first on ties).
TokenId ArgMax(std::span<const float> logits);

// Log-probabilities in the softmax of `logits` (temperature 1) of `token` and of the n most likely
// tokens (largest logit first, the lower id first on ties), found in one pass over the logits with
// a heap of n entries. Tokens of probability 0 (a logit of -inf) are not listed.
ChoiceLogprobs SoftmaxLogprobs(std::span<const float> logits, TokenId token, int n);

}  // namespace qwenvl::runtime
