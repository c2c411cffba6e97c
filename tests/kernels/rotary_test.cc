#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/ops.h"
#include "kernels/reference.h"
#include "test_util.h"

namespace qwenvl::kernels {
namespace {

constexpr float kRotaryTol = 1e-6f;  // two products and a sum of values in [-1, 1]

TEST(ApplyRotaryHalf, MatchesReference) {
  test::ForEachTarget([&] {
    for (int64_t head_dim : {2, 16, 34, 80, 128}) {
      for (int64_t rows : {1, 7, 17}) {
        const int64_t heads = 3, stride = heads * head_dim + 5;  // padded rows
        auto x = test::RandomFloats(rows * stride, 30);
        const auto c = test::RandomFloats(rows * head_dim, 31);
        const auto s = test::RandomFloats(rows * head_dim, 32);
        auto ref = x;
        ApplyRotaryHalfRef({ref.data(), rows, stride, heads, head_dim, c.data(), s.data()});
        ApplyRotaryHalf({x.data(), rows, stride, heads, head_dim, c.data(), s.data()});
        for (int64_t i = 0; i < rows * stride; ++i) {
          ASSERT_NEAR(x[i], ref[i], kRotaryTol) << "head_dim " << head_dim << " at " << i;
        }
      }
    }
  });
}

}  // namespace
}  // namespace qwenvl::kernels
