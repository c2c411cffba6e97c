// The distribution a token is chosen from, stated independently of runtime/sampler.cc: the whole
// vocabulary sorted, in double, each rule applied as transformers states it (repetition penalty,
// presence and frequency penalties, temperature, top-k, top-p, min-p), or for a greedy choice the
// softmax of the penalised logits at temperature 1. The yardstick of the logprobs tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <vector>

#include "qwenvl/token_id.h"
#include "runtime/sampler.h"

namespace qwenvl::runtime::testing {

// The logits after the penalties: `seen` are the prompt and the generated tokens (repetition
// penalty), `generated` the generated ones with their counts (presence, frequency).
inline std::vector<float> Penalised(std::vector<float> logits, const SamplerConfig& c,
                                    const std::vector<TokenId>& prompt,
                                    const std::vector<TokenId>& generated) {
  std::set<TokenId> seen(generated.begin(), generated.end());
  if (c.repetition_penalty != 1.0f) seen.insert(prompt.begin(), prompt.end());
  std::map<TokenId, int> counts;
  for (TokenId t : generated) ++counts[t];
  if (c.repetition_penalty != 1.0f)
    for (TokenId t : seen) {
      float& l = logits[static_cast<size_t>(t)];
      l = l < 0 ? l * c.repetition_penalty : l / c.repetition_penalty;
    }
  for (const auto& [t, n] : counts)
    logits[static_cast<size_t>(t)] -= c.presence_penalty + c.frequency_penalty * n;
  return logits;
}

// log P(token) for every token of the vocabulary (-inf: never chosen) given penalised logits.
inline std::vector<double> ReferenceLogprobs(const std::vector<float>& logits,
                                             const SamplerConfig& c) {
  const size_t n = logits.size();
  std::vector<double> out(n, -std::numeric_limits<double>::infinity());
  const bool greedy = c.greedy || c.top_k == 1 || c.temperature <= 1e-5f;
  const double t = greedy ? 1.0 : c.temperature;
  double max_logit = -std::numeric_limits<double>::infinity();
  for (float l : logits) max_logit = std::max(max_logit, static_cast<double>(l));
  std::vector<double> z(n);
  for (size_t i = 0; i < n; ++i) z[i] = (logits[i] - max_logit) / t;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return z[a] > z[b]; });
  size_t keep = n;
  if (!greedy) {
    if (c.top_k > 0) keep = std::min<size_t>(keep, static_cast<size_t>(c.top_k));
    double sum = 0;
    for (size_t i = 0; i < keep; ++i) sum += std::exp(z[order[i]]);
    if (c.top_p < 1.0f) {
      double cum = 0;
      for (size_t i = 0; i < keep; ++i) {
        cum += std::exp(z[order[i]]) / sum;
        if (cum >= c.top_p) {
          keep = i + 1;
          break;
        }
      }
    }
    if (c.min_p > 0.0f) {
      const double threshold = c.min_p * std::exp(z[order[0]]);
      size_t k = 1;
      while (k < keep && std::exp(z[order[k]]) >= threshold) ++k;
      keep = k;
    }
  }
  double kept = 0;
  for (size_t i = 0; i < keep; ++i) kept += std::exp(z[order[i]]);
  for (size_t i = 0; i < keep; ++i) out[order[i]] = z[order[i]] - std::log(kept);
  return out;
}

}  // namespace qwenvl::runtime::testing
