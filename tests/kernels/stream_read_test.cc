// StreamRead sums every element once, tails included, whatever the thread count.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/ops.h"
#include "test_util.h"
#include "util/thread_pool.h"

namespace qwenvl::kernels {
namespace {

TEST(StreamRead, SumsEveryElementOnce) {
  test::ForEachTarget([] {
    for (int threads : {1, 3}) {
      ThreadPool pool(threads);
      for (int64_t n : {0, 1, 63, 64, 1000, 4099}) {
        std::vector<float> x(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(i % 7);  // exact in float
        double expected = 0;
        for (float v : x) expected += v;
        EXPECT_EQ(StreamRead(x.data(), n, pool), expected) << n << " " << threads;
      }
    }
  });
}

}  // namespace
}  // namespace qwenvl::kernels
