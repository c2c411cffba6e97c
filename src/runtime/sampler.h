// Next-token choice from a row of logits: penalties, then greedy or sampling with temperature,
// top-k, top-p and min-p, with transformers' semantics and order (repetition penalty first, then
// temperature → top-k → top-p → min-p). Sampling is reproducible for a given seed.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
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
  // Records a token as generated (updates penalty state). Sample does not call it.
  void Accept(TokenId token);

  const SamplerConfig& config() const { return config_; }

 private:
  void ApplyPenalties(std::span<float> logits) const;
  TokenId SampleFromDistribution(std::span<const float> logits);

  SamplerConfig config_;
  Rng rng_;
  std::vector<TokenId> seen_;                       // unique ids of prompt + generated
  std::vector<uint8_t> seen_mask_;                  // by id
  std::unordered_map<TokenId, int32_t> generated_;  // id -> count (presence / frequency)
  std::vector<std::pair<float, TokenId>> scratch_;
};

// The token id of the largest logit (the first on ties).
TokenId ArgMax(std::span<const float> logits);

}  // namespace qwenvl::runtime
