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

namespace {
// (logit, id) before (logit, id): the more likely first, the lower id first on ties.
bool MoreLikely(const std::pair<float, TokenId>& a, const std::pair<float, TokenId>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}
}  // namespace

ChoiceLogprobs SoftmaxLogprobs(std::span<const float> logits, TokenId token, int n) {
  QWENVL_CHECK(n >= 0 && token >= 0 && static_cast<size_t>(token) < logits.size());
  const float max_logit = logits[ArgMax(logits)];
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l - max_logit));
  const double log_sum = std::log(sum);
  const auto logprob = [&](float l) {
    return static_cast<float>(static_cast<double>(l - max_logit) - log_sum);
  };
  ChoiceLogprobs out;
  out.logprob = logprob(logits[token]);
  if (n == 0) return out;
  // A heap whose front is the least likely of the n most likely seen so far: most logits are
  // below it and cost one comparison.
  std::vector<std::pair<float, TokenId>> heap;
  heap.reserve(static_cast<size_t>(n));
  for (size_t i = 0; i < logits.size(); ++i) {
    const std::pair<float, TokenId> entry = {logits[i], static_cast<TokenId>(i)};
    if (entry.first == -std::numeric_limits<float>::infinity()) continue;  // probability 0
    if (heap.size() < static_cast<size_t>(n)) {
      heap.push_back(entry);
      std::push_heap(heap.begin(), heap.end(), MoreLikely);
    } else if (MoreLikely(entry, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), MoreLikely);
      heap.back() = entry;
      std::push_heap(heap.begin(), heap.end(), MoreLikely);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), MoreLikely);  // the most likely first
  out.top.reserve(heap.size());
  for (const auto& [l, id] : heap) out.top.emplace_back(id, logprob(l));
  return out;
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

TokenId Sampler::Sample(std::span<float> logits) { return Sample(logits, 0, nullptr); }

TokenId Sampler::Sample(std::span<float> logits, int top_n, ChoiceLogprobs* logprobs) {
  ApplyPenalties(logits);
  if (config_.greedy || config_.top_k == 1 || config_.temperature <= 1e-5f) {
    const TokenId token = ArgMax(logits);
    if (logprobs != nullptr) *logprobs = SoftmaxLogprobs(logits, token, top_n);
    return token;
  }
  return SampleFromDistribution(logits, top_n, logprobs);
}

TokenId Sampler::SampleFromDistribution(std::span<const float> logits, int top_n,
                                        ChoiceLogprobs* logprobs) {
  const float inv_t = 1.0f / config_.temperature;
  const size_t vocab = logits.size();
  const float max_logit = logits[ArgMax(logits)];
  const auto weight = [&](float l) {
    return std::exp(static_cast<double>((l - max_logit) * inv_t));
  };
  scratch_.resize(vocab);
  for (size_t i = 0; i < vocab; ++i) scratch_[i] = {logits[i], static_cast<TokenId>(i)};
  // The top-k set first (partial selection), and its mass: transformers renormalises after each
  // warper, so top-p measures against the top-k set (the whole vocabulary without top-k).
  const size_t limit = config_.top_k > 0 ? std::min<size_t>(config_.top_k, vocab) : vocab;
  if (limit < vocab)
    std::nth_element(scratch_.begin(), scratch_.begin() + limit, scratch_.end(), MoreLikely);
  double sum = 0;
  for (size_t i = 0; i < limit; ++i) sum += weight(scratch_[i].first);
  // Candidates sorted by logit, largest first. Only as many as top-p can keep are sorted: start
  // with a small head and widen it until the kept mass is reached.
  size_t head = std::min<size_t>(limit, 256);
  for (;;) {
    std::partial_sort(scratch_.begin(), scratch_.begin() + head, scratch_.begin() + limit,
                      MoreLikely);
    double mass = 0;
    for (size_t i = 0; i < head; ++i) mass += weight(scratch_[i].first);
    if (head == limit || mass / sum >= config_.top_p) break;
    head = std::min(limit, head * 4);
  }
  std::vector<double> p(head);
  for (size_t i = 0; i < head; ++i) p[i] = weight(scratch_[i].first);
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
  // Should rounding leave u past the last candidate, the last one that can be drawn (a masked
  // token, of logit -inf, has weight 0 and never can).
  size_t chosen = keep - 1;
  while (chosen > 0 && p[chosen] == 0) --chosen;
  for (size_t i = 0; i < keep; ++i) {
    u -= p[i];
    if (u < 0) {
      chosen = i;
      break;
    }
  }
  if (logprobs != nullptr) {
    // The kept candidates are sorted already: the top ones are their head. Log-probabilities from
    // the exponents themselves (not log(p)), so that a tiny probability keeps its exact value.
    const double log_kept = std::log(kept);
    const auto logprob = [&](size_t i) {
      return static_cast<float>(static_cast<double>((scratch_[i].first - max_logit) * inv_t) -
                                log_kept);
    };
    logprobs->logprob = logprob(chosen);
    logprobs->top.clear();
    for (size_t i = 0; i < std::min<size_t>(keep, static_cast<size_t>(std::max(0, top_n))); ++i) {
      if (scratch_[i].first == -std::numeric_limits<float>::infinity()) break;  // probability 0
      logprobs->top.emplace_back(scratch_[i].second, logprob(i));
    }
  }
  return scratch_[chosen].second;
}

}  // namespace qwenvl::runtime
