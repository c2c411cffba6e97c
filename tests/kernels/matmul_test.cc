#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/ops.h"
#include "kernels/reference.h"
#include "test_util.h"

namespace qwenvl::kernels {
namespace {

// float32 accumulation error relative to the sum of |x·w| terms: k·eps in the worst case, far less
// in practice. The bound is scaled by Σ|x·w| so it holds for every k.
constexpr double kMatMulRelTol = 2e-6;
constexpr double kMatMulAbsTol = 1e-6;

struct Shape {
  int64_t m, k, n;
};

constexpr Shape kShapes[] =
    {
        {1, 1, 1},      {1, 7, 9},      {7, 9, 17},   {17, 17, 7},    {1, 128, 80},
        {9, 1279, 17},  {80, 128, 128}, {1, 3420, 9}, {17, 80, 1279}, {3, 1279, 3420},
        {64, 256, 100}, {33, 1279, 48}, {128, 80, 9}, {16, 17, 33},   {1, 2048, 1279},
        {9, 4200, 13},  {20, 2100, 7},  // several k panels in the packed path
};

void CheckMatMul(const Shape& s, WeightFormat type, bool with_bias) {
  SCOPED_TRACE(testing::Message() << "m=" << s.m << " k=" << s.k << " n=" << s.n
                                  << " type=" << WeightFormatName(type) << " bias=" << with_bias);
  const auto x = test::RandomFloats(s.m * s.k, 1);
  const auto wf = test::RandomFloats(s.n * s.k, 2);
  const auto bias = test::RandomFloats(s.n, 3);
  const test::StoredMatrix w = test::MakeStored(wf, type, s.n, s.k);
  const float* b = with_bias ? bias.data() : nullptr;
  std::vector<float> ref(s.m * s.n), abs_sum(s.m * s.n);
  MatMulRef(x.data(), s.m, w.view, b, ref.data());
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.n; ++j) {
      double a = 0;
      for (int64_t p = 0; p < s.k; ++p) a += std::fabs(x[i * s.k + p] * WeightAtRef(w.view, j, p));
      abs_sum[i * s.n + j] = static_cast<float>(a);
    }
  }
  ThreadPool pool1(1), pool3(3);
  test::ForEachTarget([&] {
    std::vector<float> y1(s.m * s.n), y3(s.m * s.n);
    MatMul(x.data(), s.m, w.view, b, y1.data(), pool1);
    MatMul(x.data(), s.m, w.view, b, y3.data(), pool3);
    for (int64_t i = 0; i < s.m * s.n; ++i) {
      ASSERT_NEAR(y1[i], ref[i], kMatMulRelTol * abs_sum[i] + kMatMulAbsTol) << "at " << i;
    }
    EXPECT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * 4)) << "thread count changed y";
  });
}

TEST(MatMul, MatchesReferenceF32) {
  for (const Shape& s : kShapes) CheckMatMul(s, WeightFormat::kF32, true);
}
TEST(MatMul, MatchesReferenceBf16) {
  for (const Shape& s : kShapes) CheckMatMul(s, WeightFormat::kBF16, true);
}
TEST(MatMul, MatchesReferenceF16) {
  for (const Shape& s : kShapes) CheckMatMul(s, WeightFormat::kF16, false);
}
TEST(MatMul, NoBiasBf16) {
  CheckMatMul({5, 130, 19}, WeightFormat::kBF16, false);
  CheckMatMul({40, 130, 19}, WeightFormat::kBF16, false);
}

TEST(ConvertWeightRow, MatchesReference) {
  for (WeightFormat type : {WeightFormat::kF32, WeightFormat::kBF16, WeightFormat::kF16}) {
    for (int64_t cols : {1, 7, 17, 1279}) {
      const auto wf = test::RandomFloats(3 * cols, 4, -70000.0f, 70000.0f);
      const test::StoredMatrix w = test::MakeStored(wf, type, 3, cols);
      test::ForEachTarget([&] {
        std::vector<float> row(cols);
        ConvertWeightRow(w.view, 2, row.data());
        for (int64_t c = 0; c < cols; ++c) {
          ASSERT_EQ(row[c], WeightAtRef(w.view, 2, c)) << WeightFormatName(type) << " col " << c;
        }
      });
    }
  }
}

}  // namespace
}  // namespace qwenvl::kernels
