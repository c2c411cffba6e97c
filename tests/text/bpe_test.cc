// BPE merge order on a toy vocabulary: lowest rank first, leftmost on ties, and the heap path for
// long words agrees with the rescanning path for short ones.
#include "text/bpe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

namespace qwenvl::text {
namespace {

using ::testing::ElementsAre;

// Ids: a=0 b=1 c=2, ab=3, bc=4, aa=5, abc=6, aaaa=7.
BpeMerges ToyMerges() { return BpeMerges({{1, 2, 4}, {0, 1, 3}, {0, 0, 5}, {3, 2, 6}, {5, 5, 7}}); }

std::vector<TokenId> Apply(const BpeMerges& merges, std::vector<TokenId> symbols) {
  merges.Apply(&symbols);
  return symbols;
}

TEST(Bpe, LowestRankWins) {
  // "abc": b+c (rank 0) beats a+b (rank 1), and a+bc has no merge.
  EXPECT_THAT(Apply(ToyMerges(), {0, 1, 2}), ElementsAre(0, 4));
}

TEST(Bpe, LeftmostWinsOnTies) {
  // "aaa": the first a+a merges, leaving "aa a".
  EXPECT_THAT(Apply(ToyMerges(), {0, 0, 0}), ElementsAre(5, 0));
  // "aaaa" -> "aa aa" -> "aaaa".
  EXPECT_THAT(Apply(ToyMerges(), {0, 0, 0, 0}), ElementsAre(7));
  EXPECT_THAT(Apply(ToyMerges(), {0, 0, 0, 0, 0}), ElementsAre(7, 0));
}

TEST(Bpe, RepeatedPairKeepsFirstRank) {
  const BpeMerges merges({{0, 1, 3}, {1, 2, 4}, {0, 1, 9}});
  EXPECT_EQ(merges.size(), 2u);
  EXPECT_THAT(Apply(merges, {0, 1, 2}), ElementsAre(3, 2));
}

TEST(Bpe, EmptyAndSingleSymbol) {
  EXPECT_TRUE(Apply(ToyMerges(), {}).empty());
  EXPECT_THAT(Apply(ToyMerges(), {2}), ElementsAre(2));
  EXPECT_THAT(Apply(BpeMerges(), {0, 1}), ElementsAre(0, 1));
}

TEST(Bpe, LongWordsMatchShortWordPath) {
  // A word longer than the small-word limit, cut at a symbol no merge touches (c after c), must
  // give the same result as its parts merged on their own (each short enough for the rescanning
  // path).
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> symbol(0, 1);
  for (int round = 0; round < 100; ++round) {
    std::vector<TokenId> word;
    std::vector<TokenId> expected;
    for (int part = 0; part < 10; ++part) {
      std::vector<TokenId> piece;
      const int length = 1 + static_cast<int>(rng() % 12);
      for (int k = 0; k < length; ++k) piece.push_back(symbol(rng));
      piece.push_back(2);
      piece.push_back(2);
      word.insert(word.end(), piece.begin(), piece.end());
      const std::vector<TokenId> merged = Apply(ToyMerges(), piece);
      expected.insert(expected.end(), merged.begin(), merged.end());
    }
    ASSERT_GT(word.size(), 24u);
    EXPECT_EQ(Apply(ToyMerges(), word), expected);
  }
}

}  // namespace
}  // namespace qwenvl::text
