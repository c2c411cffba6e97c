#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "sampling_reference.h"
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

constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

// Random logits of several shapes: spread wide or narrow, with ties, and some tokens masked to -inf
// (as an output constraint masks them).
std::vector<float> RandomLogits(std::mt19937_64& rng, size_t vocab) {
  std::normal_distribution<float> normal(0.0f, std::uniform_real_distribution<float>(0.3f, 6)(rng));
  std::vector<float> l(vocab);
  for (float& x : l) x = normal(rng);
  for (size_t i = 0; i < vocab / 50; ++i) l[rng() % vocab] = l[rng() % vocab];  // ties
  if (rng() % 2 == 0)
    for (size_t i = 0; i < vocab / 3; ++i) l[1 + rng() % (vocab - 1)] = kMinusInf;
  return l;
}

SamplerConfig RandomConfig(std::mt19937_64& rng, uint64_t seed) {
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  SamplerConfig c;
  c.seed = seed;
  c.greedy = rng() % 4 == 0;
  c.temperature = 0.2f + 1.6f * unit(rng);
  const int k = static_cast<int>(rng() % 5);
  c.top_k = k == 0   ? 0
            : k == 1 ? 1
            : k == 2 ? 5
            : k == 3 ? 40
                     : 700;  // 700: beyond the head of 256
  c.top_p = rng() % 2 ? 1.0f : 0.3f + 0.7f * unit(rng);
  c.min_p = rng() % 3 ? 0.0f : 0.2f * unit(rng);
  c.repetition_penalty = rng() % 2 ? 1.0f : 1.3f;
  c.presence_penalty = rng() % 2 ? 0.0f : 0.5f;
  c.frequency_penalty = rng() % 2 ? 0.0f : 0.25f;
  return c;
}

std::string Describe(const SamplerConfig& c) {
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "greedy %d temperature %g top_k %d top_p %g min_p %g repetition %g presence %g "
                "frequency %g seed %llu",
                c.greedy, c.temperature, c.top_k, c.top_p, c.min_p, c.repetition_penalty,
                c.presence_penalty, c.frequency_penalty, static_cast<unsigned long long>(c.seed));
  return buf;
}

// Over random logits and settings, each choice's log-probabilities are those of the distribution
// stated independently (testing::ReferenceLogprobs): the chosen token's, and the top ones, most
// likely first, that distribution's most likely tokens. Asking for them does not change the
// tokens a seed draws.
TEST(Sampler, LogprobsAreThoseOfTheDistributionTheTokenWasDrawnFrom) {
  std::mt19937_64 rng(20261207);
  int sampled = 0, greedy = 0;
  for (int trial = 0; trial < 60; ++trial) {
    const size_t vocab = trial % 3 == 0 ? 12 : 3000;
    const SamplerConfig c = RandomConfig(rng, rng());
    const std::vector<TokenId> prompt = {0, 1, 2, 7};
    Sampler with(c, prompt), without(c, prompt);
    std::vector<TokenId> generated;
    const int top_n = static_cast<int>(rng() % 21);
    for (int step = 0; step < 8; ++step) {
      const std::string where = Describe(c) + ", vocab " + std::to_string(vocab) + ", top " +
                                std::to_string(top_n) + ", step " + std::to_string(step);
      const std::vector<float> logits = RandomLogits(rng, vocab);
      std::vector<float> a = logits, b = logits;
      ChoiceLogprobs lp;
      const TokenId token = with.Sample(a, top_n, &lp);
      ASSERT_EQ(token, without.Sample(b)) << where;
      const std::vector<double> ref =
          testing::ReferenceLogprobs(testing::Penalised(logits, c, prompt, generated), c);
      ASSERT_TRUE(std::isfinite(ref[static_cast<size_t>(token)])) << "drawn outside " << where;
      EXPECT_NEAR(lp.logprob, ref[static_cast<size_t>(token)], 1e-4) << where;
      // The reference's most likely tokens, in order (ties: the lower id first).
      std::vector<TokenId> expected;
      for (size_t i = 0; i < vocab; ++i)
        if (std::isfinite(ref[i])) expected.push_back(static_cast<TokenId>(i));
      std::stable_sort(expected.begin(), expected.end(), [&](TokenId x, TokenId y) {
        return ref[static_cast<size_t>(x)] > ref[static_cast<size_t>(y)];
      });
      expected.resize(std::min(expected.size(), static_cast<size_t>(top_n)));
      ASSERT_EQ(lp.top.size(), expected.size()) << where;
      double mass = 0;
      for (size_t i = 0; i < lp.top.size(); ++i) {
        EXPECT_NEAR(lp.top[i].second, ref[static_cast<size_t>(lp.top[i].first)], 1e-4) << where;
        // The same token unless two are equally likely.
        if (lp.top[i].first != expected[i]) {
          EXPECT_NEAR(ref[static_cast<size_t>(expected[i])],
                      ref[static_cast<size_t>(lp.top[i].first)], 1e-6)
              << where;
        }
        if (i > 0) {
          EXPECT_GE(lp.top[i - 1].second, lp.top[i].second) << where;
        }
        if (lp.top[i].first == token) {
          EXPECT_FLOAT_EQ(lp.top[i].second, lp.logprob) << where;
        }
        mass += std::exp(static_cast<double>(lp.top[i].second));
      }
      EXPECT_LE(mass, 1.0 + 1e-5) << where;
      double all = 0;
      for (double x : ref) all += std::exp(x);
      EXPECT_NEAR(all, 1.0, 1e-9) << where;
      // Every token that can be drawn listed: the listed mass is the whole.
      if (expected.size() < static_cast<size_t>(top_n)) {
        EXPECT_NEAR(mass, 1.0, 1e-5) << where;
      }
      const bool is_greedy = c.greedy || c.top_k == 1;
      if (is_greedy && top_n > 0) {
        EXPECT_EQ(lp.top[0].first, token) << "a greedy token is the most likely " << where;
        EXPECT_EQ(lp.top[0].second, lp.logprob) << where;
      }
      (is_greedy ? greedy : sampled) += 1;
      with.Accept(token);
      without.Accept(token);
      generated.push_back(token);
    }
  }
  EXPECT_GT(greedy, 40);
  EXPECT_GT(sampled, 200);
}

// A greedy choice reports the softmax of the penalised logits at temperature 1 (it is drawn from
// no distribution: its own would be certainty).
TEST(Sampler, GreedyLogprobsAreTheSoftmaxOfThePenalisedLogits) {
  SamplerConfig c;
  c.repetition_penalty = 2.0f;
  const std::vector<TokenId> prompt = {1};
  Sampler s(c, prompt);
  std::vector<float> l = {1.0f, 3.0f, 0.5f, kMinusInf};  // token 1: 3 / 2 = 1.5
  ChoiceLogprobs lp;
  EXPECT_EQ(s.Sample(l, 5, &lp), 1);
  const double z = std::log(std::exp(1.0) + std::exp(1.5) + std::exp(0.5));
  EXPECT_NEAR(lp.logprob, 1.5 - z, 1e-6);
  ASSERT_EQ(lp.top.size(), 3u) << "a token of probability 0 is not listed";
  EXPECT_EQ(lp.top[0].first, 1);
  EXPECT_EQ(lp.top[1].first, 0);
  EXPECT_EQ(lp.top[2].first, 2);
  EXPECT_NEAR(lp.top[2].second, 0.5 - z, 1e-6);
}

// A masked token (logit -inf) is never drawn, whatever the settings and the seed.
TEST(Sampler, MaskedTokensAreNeverDrawn) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    SamplerConfig c = RandomConfig(rng, rng());
    c.greedy = false;
    Sampler s(c, {});
    std::vector<float> l(40, kMinusInf);
    l[rng() % 40] = 0.0f;
    l[rng() % 40] = -30.0f;  // weight underflows at low temperature
    const std::vector<float> copy = l;
    ChoiceLogprobs lp;
    const TokenId t = s.Sample(l, 3, &lp);
    EXPECT_NE(copy[static_cast<size_t>(t)], kMinusInf) << Describe(c);
    EXPECT_TRUE(std::isfinite(lp.logprob)) << Describe(c);
  }
}

TEST(Sampler, SoftmaxLogprobsFindTheTopTokensWithoutSorting) {
  std::vector<float> l(151936, -5.0f);
  l[100] = 2.0f;
  l[7] = 2.0f;  // a tie: the lower id first
  l[151935] = 3.0f;
  const ChoiceLogprobs lp = SoftmaxLogprobs(l, 100, 3);
  ASSERT_EQ(lp.top.size(), 3u);
  EXPECT_EQ(lp.top[0].first, 151935);
  EXPECT_EQ(lp.top[1].first, 7);
  EXPECT_EQ(lp.top[2].first, 100);
  EXPECT_EQ(lp.top[2].second, lp.logprob);
  EXPECT_TRUE(SoftmaxLogprobs(l, 100, 0).top.empty());
}

}  // namespace
}  // namespace qwenvl::runtime
