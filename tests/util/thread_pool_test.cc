#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace qwenvl {
namespace {

TEST(ThreadPool, EveryIndexRunsExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> hits(n);
      pool.Run(n, [&](int64_t i, int worker) {
        EXPECT_LT(worker, threads);
        hits[i]++;
      });
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
    }
  }
}

TEST(ThreadPool, RangesAreContiguousAndCoverEverything) {
  ThreadPool pool(3);
  std::atomic<int64_t> covered{0};
  pool.RunRanges(10, [&](int64_t b, int64_t e, int) {
    EXPECT_LE(b, e);
    covered += e - b;
  });
  EXPECT_EQ(covered.load(), 10);
}

}  // namespace
}  // namespace qwenvl
