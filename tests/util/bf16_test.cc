// float16 rounding of the quantized formats' block scales: F32ToF16 rounds to nearest even,
// F32ToF16Up to the smallest float16 not below its input (so max|w| / scale never exceeds the
// integer range), saturating at float16's largest finite value.
#include "util/bf16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace qwenvl {
namespace {

TEST(Float16, UpRoundsToTheSmallestHalfNotBelow) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> exponent(-30.0f, 16.0f);
  for (int i = 0; i < 200000; ++i) {
    const float f = std::exp2(exponent(rng));
    const uint16_t h = F32ToF16Up(f);
    if (f > 65504.0f) {
      EXPECT_EQ(h, 0x7bffu) << f;
      continue;
    }
    ASSERT_GE(F16ToF32(h), f) << f;
    if (h > 0) {
      ASSERT_LT(F16ToF32(static_cast<uint16_t>(h - 1)), f) << f;
    }
    const uint16_t n = F32ToF16(f);  // nearest: within half a float16 step
    ASSERT_LE(std::fabs(F16ToF32(n) - f),
              std::fabs(F16ToF32(h) - F16ToF32(h - (h > 0))) / 2 + 1e-30f)
        << f;
  }
  EXPECT_EQ(F32ToF16Up(0.0f), 0u);
  EXPECT_EQ(F32ToF16Up(1e-12f), 1u);  // below the smallest subnormal: the smallest subnormal
  EXPECT_EQ(F32ToF16Up(1.0f), 0x3c00u);
  EXPECT_EQ(F32ToF16Up(1e30f), 0x7bffu);
  EXPECT_EQ(F32ToF16Up(INFINITY), 0x7bffu);
}

TEST(Float16, BranchFreeConversionIsExactForEveryFiniteHalf) {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    if ((h & 0x7c00u) == 0x7c00u) continue;  // infinities and NaNs
    ASSERT_EQ(F16ToF32Finite(static_cast<uint16_t>(h)), F16ToF32(static_cast<uint16_t>(h))) << h;
  }
}

}  // namespace
}  // namespace qwenvl
