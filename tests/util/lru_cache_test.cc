// The LRU cache keeps the most recent entries within its cost bound, against a model of it.
#include "util/lru_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace qwenvl {
namespace {

TEST(LruCache, EvictsTheLeastRecentlyUsed) {
  LruCache<std::string, int> c(2);
  c.Put("a", 1);
  c.Put("b", 2);
  ASSERT_NE(c.Find("a"), nullptr);  // a is now the most recent
  c.Put("c", 3);                    // b goes
  EXPECT_EQ(c.Find("b"), nullptr);
  EXPECT_EQ(*c.Find("a"), 1);
  EXPECT_EQ(*c.Find("c"), 3);
  c.Put("a", 10);  // replaces, no growth
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(*c.Find("a"), 10);
}

TEST(LruCache, CostBoundAndOversizedValues) {
  LruCache<int, std::vector<char>> c(100, [](const std::vector<char>& v) { return v.size(); });
  c.Put(1, std::vector<char>(60));
  c.Put(2, std::vector<char>(30));
  EXPECT_EQ(c.cost(), 90u);
  c.Put(3, std::vector<char>(20));  // 110 > 100: 1 goes
  EXPECT_EQ(c.Find(1), nullptr);
  EXPECT_EQ(c.cost(), 50u);
  c.Put(4, std::vector<char>(101));  // never fits: not kept, nothing else dropped
  EXPECT_EQ(c.Find(4), nullptr);
  EXPECT_EQ(c.size(), 2u);
  c.Clear();
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.cost(), 0u);
}

// Random operations against a plain vector model (most recent first).
TEST(LruCache, MatchesAModelOverRandomOperations) {
  std::mt19937 rng(5);
  struct E {
    int key, value, cost;
  };
  for (int round = 0; round < 20; ++round) {
    const size_t bound = 5 + rng() % 20;
    LruCache<int, int> c(bound, [](const int& v) { return static_cast<size_t>(v % 7 + 1); });
    std::vector<E> model;
    for (int op = 0; op < 500; ++op) {
      const int key = static_cast<int>(rng() % 12);
      auto it = std::find_if(model.begin(), model.end(), [&](const E& e) { return e.key == key; });
      if (rng() % 2 == 0) {
        const int* got = c.Find(key);
        ASSERT_EQ(got != nullptr, it != model.end());
        if (got != nullptr) {
          ASSERT_EQ(*got, it->value);
          const E e = *it;
          model.erase(it);
          model.insert(model.begin(), e);
        }
      } else {
        const int value = static_cast<int>(rng() % 100);
        if (it != model.end()) model.erase(it);
        const int cost = value % 7 + 1;
        if (static_cast<size_t>(cost) <= bound) {
          model.insert(model.begin(), {key, value, cost});
          size_t total = 0;
          for (const E& e : model) total += e.cost;
          while (total > bound) {
            total -= model.back().cost;
            model.pop_back();
          }
        }
        c.Put(key, value);
      }
      size_t total = 0;
      for (const E& e : model) total += e.cost;
      ASSERT_EQ(c.size(), model.size());
      ASSERT_EQ(c.cost(), total);
    }
  }
}

}  // namespace
}  // namespace qwenvl
