#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "util/error.h"

namespace qwenvl::runtime {

namespace {
uint64_t SplitMix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
inline uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(uint64_t seed) {
  for (auto& s : s_) s = SplitMix64(seed);
}

uint64_t Rng::Next() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

double Rng::Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

TokenId ArgMax(std::span<const float> logits) {
  TokenId best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = static_cast<TokenId>(i);
  return best;
}

Sampler::Sampler(const SamplerConfig& config, std::span<const TokenId> prompt)
    : config_(config), rng_(config.seed) {
  if (config.temperature < 0 || config.top_p <= 0 || config.top_p > 1 || config.min_p < 0 ||
      config.min_p > 1 || config.top_k < 0 || config.repetition_penalty <= 0)
    throw Error(
        ErrorCode::kInvalidArgument,
        "sampling settings out of range: temperature >= 0, 0 < top_p <= 1, 0 <= min_p <= 1, "
        "top_k >= 0, repetition_penalty > 0");
  if (config_.repetition_penalty != 1.0f)
    for (TokenId t : prompt) Accept(t), generated_.erase(t);
}

void Sampler::Accept(TokenId token) {
  if (token < 0) return;
  if (static_cast<size_t>(token) >= seen_mask_.size()) seen_mask_.resize(token + 1024, 0);
  if (!seen_mask_[token]) {
    seen_mask_[token] = 1;
    seen_.push_back(token);
  }
  ++generated_[token];
}

void Sampler::ApplyPenalties(std::span<float> logits) const {
  const float rp = config_.repetition_penalty;
  if (rp != 1.0f)
    for (TokenId t : seen_) {
      if (static_cast<size_t>(t) >= logits.size()) continue;
      float& l = logits[t];
      l = l < 0 ? l * rp : l / rp;  // transformers RepetitionPenaltyLogitsProcessor
    }
  if (config_.presence_penalty != 0.0f || config_.frequency_penalty != 0.0f)
    for (const auto& [t, count] : generated_) {
      if (static_cast<size_t>(t) >= logits.size()) continue;
      logits[t] -= config_.presence_penalty + config_.frequency_penalty * count;
    }
}

TokenId Sampler::Sample(std::span<float> logits) {
  ApplyPenalties(logits);
  if (config_.greedy || config_.top_k == 1 || config_.temperature <= 1e-5f) return ArgMax(logits);
  return SampleFromDistribution(logits);
}

TokenId Sampler::SampleFromDistribution(std::span<const float> logits) {
  const float inv_t = 1.0f / config_.temperature;
  // Candidates sorted by logit, largest first. Only as many as top-k / top-p can keep are sorted:
  // start with a small head and widen it until the kept mass is reached.
  const size_t vocab = logits.size();
  const float max_logit = logits[ArgMax(logits)];
  double total = 0;
  for (float l : logits) total += std::exp(static_cast<double>((l - max_logit) * inv_t));
  scratch_.resize(vocab);
  for (size_t i = 0; i < vocab; ++i) scratch_[i] = {logits[i], static_cast<TokenId>(i)};
  size_t limit = config_.top_k > 0 ? std::min<size_t>(config_.top_k, vocab) : vocab;
  size_t head = std::min<size_t>(limit, 256);
  auto by_logit = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  for (;;) {
    std::partial_sort(scratch_.begin(), scratch_.begin() + head, scratch_.end(), by_logit);
    double mass = 0;
    for (size_t i = 0; i < head; ++i)
      mass += std::exp(static_cast<double>((scratch_[i].first - max_logit) * inv_t));
    if (head == limit || mass / total >= config_.top_p) break;
    head = std::min(limit, head * 4);
  }
  // Probabilities over the top-k set (transformers renormalises after each warper).
  std::vector<double> p(head);
  double sum = 0;
  for (size_t i = 0; i < head; ++i)
    sum += p[i] = std::exp(static_cast<double>((scratch_[i].first - max_logit) * inv_t));
  if (config_.top_k == 0) sum = total;  // no top-k: the distribution is over the whole vocabulary
  size_t keep = head;
  if (config_.top_p < 1.0f) {
    // Keep the smallest prefix whose mass reaches top_p (tokens removed where the ascending
    // cumulative mass is <= 1 - top_p), at least one token.
    double cum = 0;
    for (size_t i = 0; i < head; ++i) {
      cum += p[i] / sum;
      if (cum >= config_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  if (config_.min_p > 0.0f) {
    const double threshold = config_.min_p * p[0];
    size_t k = 1;
    while (k < keep && p[k] >= threshold) ++k;
    keep = k;
  }
  double kept = 0;
  for (size_t i = 0; i < keep; ++i) kept += p[i];
  double u = rng_.Uniform() * kept;
  for (size_t i = 0; i < keep; ++i) {
    u -= p[i];
    if (u < 0) return scratch_[i].second;
  }
  return scratch_[keep - 1].second;
}

}  // namespace qwenvl::runtime
