#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/ops.h"
#include "kernels/reference.h"
#include "test_util.h"

namespace qwenvl::kernels {
namespace {

constexpr float kRmsNormTol = 2e-6f;  // relative to max(1, |ref|)

TEST(RmsNorm, MatchesReferenceAndIsThreadIndependent) {
  test::ForEachTarget([&] {
    for (int64_t dim : {1, 7, 9, 17, 80, 128, 1279, 3420}) {
      for (int64_t rows : {1, 3, 7}) {
        const auto x = test::RandomFloats(rows * dim, 10, -3.0f, 3.0f);
        const auto w = test::RandomFloats(dim, 11, 0.5f, 1.5f);
        std::vector<float> ref(rows * dim), y1(rows * dim), y3 = x;
        RmsNormRef(x.data(), w.data(), rows, dim, 1e-6f, ref.data());
        ThreadPool pool1(1), pool3(3);
        RmsNorm(x.data(), w.data(), rows, dim, 1e-6f, y1.data(), pool1);
        RmsNorm(y3.data(), w.data(), rows, dim, 1e-6f, y3.data(), pool3);  // in place
        for (int64_t i = 0; i < rows * dim; ++i) {
          ASSERT_NEAR(y1[i], ref[i], kRmsNormTol * std::max(1.0f, std::fabs(ref[i])))
              << "dim " << dim << " at " << i;
        }
        EXPECT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * 4)) << "dim " << dim;
      }
    }
  });
}

}  // namespace
}  // namespace qwenvl::kernels
