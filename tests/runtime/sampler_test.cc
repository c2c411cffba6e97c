#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "util/error.h"

namespace qwenvl::runtime {
namespace {

TEST(Sampler, GreedyTakesTheLargestLogit) {
  Sampler s({}, {});
  std::vector<float> l = {0.1f, 2.0f, -1.0f, 1.9f};
  EXPECT_EQ(s.Sample(l), 1);
}

TEST(Sampler, RepetitionPenaltyFollowsTransformers) {
  // Positive logits are divided, negative multiplied, for tokens of the prompt.
  SamplerConfig c;
  c.repetition_penalty = 2.0f;
  std::vector<TokenId> prompt = {1, 2, 2};
  Sampler s(c, prompt);
  std::vector<float> l = {1.0f, 3.0f, -1.0f, 1.4f};
  EXPECT_EQ(s.Sample(l), 1);  // 3.0 / 2 = 1.5 still beats 1.4
  EXPECT_FLOAT_EQ(l[1], 1.5f);
  EXPECT_FLOAT_EQ(l[2], -2.0f);
  EXPECT_FLOAT_EQ(l[0], 1.0f);
}

TEST(Sampler, PresenceAndFrequencyPenaliseGeneratedTokensOnly) {
  SamplerConfig c;
  c.presence_penalty = 0.5f;
  c.frequency_penalty = 0.25f;
  std::vector<TokenId> prompt = {0};
  Sampler s(c, prompt);
  s.Accept(1);
  s.Accept(1);
  std::vector<float> l = {1.0f, 1.0f, 0.0f};
  s.Sample(l);
  EXPECT_FLOAT_EQ(l[0], 1.0f);                // prompt token: untouched
  EXPECT_FLOAT_EQ(l[1], 1.0f - 0.5f - 0.5f);  // presence + 2 × frequency
}

TEST(Sampler, SamplingMatchesTheSoftmaxDistribution) {
  SamplerConfig c;
  c.greedy = false;
  c.temperature = 1.0f;
  c.seed = 42;
  Sampler s(c, {});
  const std::vector<float> logits = {0.0f, std::log(2.0f), std::log(3.0f), std::log(4.0f)};
  std::map<int, int> counts;
  const int n = 40000;
  for (int i = 0; i < n; ++i) {
    std::vector<float> l = logits;
    counts[s.Sample(l)]++;
  }
  for (int t = 0; t < 4; ++t) EXPECT_NEAR(counts[t] / double(n), (t + 1) / 10.0, 0.01) << t;
}

TEST(Sampler, TopKTopPMinPRestrictTheCandidates) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f),
                                     std::log(0.05f)};
  auto support = [&](SamplerConfig c) {
    c.greedy = false;
    c.seed = 7;
    Sampler s(c, {});
    std::set<int> seen;
    for (int i = 0; i < 3000; ++i) {
      std::vector<float> l = logits;
      seen.insert(s.Sample(l));
    }
    return seen;
  };
  SamplerConfig k;
  k.top_k = 2;
  EXPECT_EQ(support(k), (std::set<int>{0, 1}));
  SamplerConfig p;
  p.top_p = 0.79f;  // 0.5 + 0.3 reaches it
  EXPECT_EQ(support(p), (std::set<int>{0, 1}));
  SamplerConfig p2;
  p2.top_p = 0.81f;
  EXPECT_EQ(support(p2), (std::set<int>{0, 1, 2}));
  SamplerConfig m;
  m.min_p = 0.25f;  // threshold 0.125: drops 0.05
  EXPECT_EQ(support(m), (std::set<int>{0, 1, 2}));
}

TEST(Sampler, SameSeedSameTokens) {
  SamplerConfig c;
  c.greedy = false;
  c.seed = 123;
  std::vector<float> logits(1000);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(i * 0.37f) * 3;
  auto run = [&] {
    Sampler s(c, {});
    std::vector<TokenId> out;
    for (int i = 0; i < 50; ++i) {
      std::vector<float> l = logits;
      out.push_back(s.Sample(l));
    }
    return out;
  };
  EXPECT_EQ(run(), run());
}

TEST(Sampler, OutOfRangeSettingsAreErrors) {
  SamplerConfig c;
  c.top_p = 0.0f;
  EXPECT_THROW(Sampler(c, {}), Error);
  c = {};
  c.temperature = -1;
  EXPECT_THROW(Sampler(c, {}), Error);
}

}  // namespace
}  // namespace qwenvl::runtime
