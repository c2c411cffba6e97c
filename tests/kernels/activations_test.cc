#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/ops.h"
#include "kernels/reference.h"
#include "test_util.h"

namespace qwenvl::kernels {
namespace {

// Vector exp/erf approximations are good to a few float ulps; allow 4e-6 relative plus a small
// absolute term for results near zero.
constexpr float kActRelTol = 4e-6f;
constexpr float kActAbsTol = 1e-7f;

TEST(SiluMul, MatchesReference) {
  test::ForEachTarget([&] {
    for (int64_t n : {1, 7, 9, 17, 80, 128, 1279, 3420}) {
      auto gate = test::RandomFloats(n, 20, -12.0f, 12.0f);
      const auto up = test::RandomFloats(n, 21, -2.0f, 2.0f);
      auto ref = gate;
      SiluMulRef(ref.data(), up.data(), n);
      SiluMul(gate.data(), up.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(gate[i], ref[i], kActRelTol * std::fabs(ref[i]) + kActAbsTol) << n << " " << i;
      }
    }
  });
}

TEST(SiluMul, ExtremeInputsStayFinite) {
  test::ForEachTarget([&] {
    std::vector<float> gate = {-100.0f, -88.0f, 0.0f, 88.0f, 100.0f};
    std::vector<float> up(gate.size(), 1.0f);
    SiluMul(gate.data(), up.data(), static_cast<int64_t>(gate.size()));
    EXPECT_NEAR(gate[0], 0.0f, 1e-30f);
    EXPECT_EQ(gate[2], 0.0f);
    EXPECT_NEAR(gate[4], 100.0f, 1e-4f);
    for (float g : gate) EXPECT_TRUE(std::isfinite(g));
  });
}

TEST(GeluErf, MatchesReference) {
  test::ForEachTarget([&] {
    for (int64_t n : {1, 7, 9, 17, 80, 128, 1279, 3420}) {
      auto x = test::RandomFloats(n, 22, -8.0f, 8.0f);
      auto ref = x;
      GeluErfRef(ref.data(), n);
      GeluErf(x.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(x[i], ref[i], kActRelTol * std::fabs(ref[i]) + kActAbsTol) << n << " " << i;
      }
    }
  });
}

}  // namespace
}  // namespace qwenvl::kernels
