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

// The kernels that round x (and weights not stored as bf16) to bf16: within 2^-9 relative of each
// rounded factor, summed in float32; independent of the thread count.
void CheckBf16Kernel(const Shape& s, WeightFormat type, MatMulKernel kernel) {
  SCOPED_TRACE(testing::Message() << "m=" << s.m << " k=" << s.k << " n=" << s.n
                                  << " type=" << WeightFormatName(type)
                                  << " kernel=" << MatMulKernelName(kernel));
  const auto x = test::RandomFloats(s.m * s.k, 1);
  const auto wf = test::RandomFloats(s.n * s.k, 2);
  const auto bias = test::RandomFloats(s.n, 3);
  const test::StoredMatrix w = test::MakeStored(wf, type, s.n, s.k);
  std::vector<float> ref(s.m * s.n);
  MatMulRef(x.data(), s.m, w.view, bias.data(), ref.data());
  ThreadPool pool1(1), pool3(3);
  std::vector<float> y1(s.m * s.n), y3(s.m * s.n);
  MatMul(x.data(), s.m, w.view, bias.data(), y1.data(), pool1, kernel);
  MatMul(x.data(), s.m, w.view, bias.data(), y3.data(), pool3, kernel);
  const double rel = type == WeightFormat::kBF16 ? 1.0 / 512 : 2.0 / 512;
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.n; ++j) {
      double a = 0;
      for (int64_t p = 0; p < s.k; ++p) a += std::fabs(x[i * s.k + p] * WeightAtRef(w.view, j, p));
      ASSERT_NEAR(y1[i * s.n + j], ref[i * s.n + j], (rel + kMatMulRelTol) * a + kMatMulAbsTol)
          << "at " << i << "," << j;
    }
  }
  EXPECT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * 4)) << "thread count changed y";
}

TEST(MatMul, Bf16KernelsMatchReference) {
  bool ran = false;
  for (MatMulKernel kernel : {MatMulKernel::kBf16Dot, MatMulKernel::kAmxBf16}) {
    if (!MatMulKernelRuns(kernel)) continue;
    ran = true;
    for (const Shape& s : kShapes) CheckBf16Kernel(s, WeightFormat::kBF16, kernel);
    CheckBf16Kernel({70, 4200, 33}, WeightFormat::kBF16, kernel);  // blocks, panels, tails
    CheckBf16Kernel({40, 1280, 64}, WeightFormat::kBF16, kernel);  // whole tiles, in place
    CheckBf16Kernel({9, 130, 19}, WeightFormat::kF32, kernel);
    CheckBf16Kernel({33, 1279, 20}, WeightFormat::kF16, kernel);
    CheckBf16Kernel({3, 100, 5}, WeightFormat::kF16, kernel);
  }
  if (!ran) GTEST_SKIP() << "this CPU runs neither bf16-dot nor amx-bf16";
}

// A row of y is the same whatever other rows x has (batches and chunked prefills rely on it), for
// every kernel this CPU runs, through GEMV and GEMM sizes alike where the kernel's size class
// does not change.
TEST(MatMul, RowsDoNotDependOnTheOtherRows) {
  const int64_t m = 70, k = 300, n = 37;
  const auto x = test::RandomFloats(m * k, 5);
  const auto wf = test::RandomFloats(n * k, 6);
  ThreadPool pool(2);
  int kernels_checked = 0;
  for (WeightFormat type : {WeightFormat::kBF16, WeightFormat::kQ8, WeightFormat::kQ4}) {
    const test::StoredMatrix stored = test::MakeStored(wf, WeightFormat::kBF16, n, k);
    QuantizedMatrix q;
    WeightView w = stored.view;
    if (type != WeightFormat::kBF16) {
      q = Quantize(stored.view, type, pool);
      w = q.view();
    }
    for (MatMulKernel kernel : kAllMatMulKernels) {
      if (!MatMulKernelRuns(kernel) || !MatMulKernelTakes(kernel, type)) continue;
      SCOPED_TRACE(testing::Message() << WeightFormatName(type) << " " << MatMulKernelName(kernel));
      ++kernels_checked;
      std::vector<float> all(m * n);
      MatMul(x.data(), m, w, nullptr, all.data(), pool, kernel);
      for (const auto& [first, rows] : std::vector<std::pair<int64_t, int64_t>>{
               {0, 8}, {5, 9}, {31, 33}, {40, 30}, {69, 1}, {3, 4}, {66, 3}}) {
        if (rows < kMatMulGemmRows && kernel != MatMulKernel::kF32 &&
            kernel != MatMulKernel::kInt8 && type != WeightFormat::kBF16) {
          continue;  // the rounded-x float GEMV: same rounding, another summation order
        }
        std::vector<float> part(rows * n);
        MatMul(x.data() + first * k, rows, w, nullptr, part.data(), pool, kernel);
        if (rows >= kMatMulGemmRows) {
          EXPECT_EQ(0, std::memcmp(part.data(), all.data() + first * n, part.size() * 4))
              << "rows " << first << "+" << rows;
        } else {
          // GEMV sizes sum in another order than the GEMM: equal to float32 rounding.
          for (int64_t i = 0; i < rows * n; ++i) {
            ASSERT_NEAR(part[i], all[first * n + i], 1e-4 * (1 + std::fabs(all[first * n + i])))
                << "rows " << first << "+" << rows << " at " << i;
          }
        }
      }
    }
  }
  EXPECT_GE(kernels_checked, 3);  // f32 at least, for each weight type
}

// MatMulMany gives each product exactly what MatMul gives it, for every kernel, weight type,
// decode and prefill sizes, row counts that are not a multiple of a tile, with and without
// bias, on one thread and on three (the int8 GEMV shares the rows of all products out at once).
TEST(MatMul, ManyEqualsOneAtATime) {
  const int64_t rows[] = {37, 8, 5, 64};  // q|k|v-like: a long product, then short ones
  ThreadPool pool1(1), pool3(3);
  int kernels_checked = 0;
  for (const int64_t k : {int64_t{300}, int64_t{320}}) {  // an odd last block, whole pairs
    const auto x = test::RandomFloats(16 * k, 11);
    for (WeightFormat type : {WeightFormat::kBF16, WeightFormat::kQ8, WeightFormat::kQ4}) {
      std::vector<test::StoredMatrix> stored;
      std::vector<QuantizedMatrix> quantized(std::size(rows));
      std::vector<WeightView> views;
      std::vector<std::vector<float>> biases;
      for (size_t p = 0; p < std::size(rows); ++p) {
        stored.push_back(test::MakeStored(test::RandomFloats(rows[p] * k, 20 + p),
                                          WeightFormat::kBF16, rows[p], k));
        biases.push_back(test::RandomFloats(rows[p], 30 + p));
      }
      for (size_t p = 0; p < std::size(rows); ++p) {
        if (type == WeightFormat::kBF16) {
          views.push_back(stored[p].view);
        } else {
          quantized[p] = Quantize(stored[p].view, type, pool1);
          views.push_back(quantized[p].view());
        }
      }
      for (MatMulKernel kernel : kAllMatMulKernels) {
        if (!MatMulKernelRuns(kernel) || !MatMulKernelTakes(kernel, type)) continue;
        ++kernels_checked;
        for (const int64_t m : {1, 3, 16}) {
          for (ThreadPool* pool : {&pool1, &pool3}) {
            SCOPED_TRACE(testing::Message()
                         << WeightFormatName(type) << " " << MatMulKernelName(kernel) << " k=" << k
                         << " m=" << m << " threads=" << pool->size());
            std::vector<std::vector<float>> one, many;
            std::vector<MatMulProduct> products;
            for (size_t p = 0; p < std::size(rows); ++p) {
              one.emplace_back(m * rows[p]);
              many.emplace_back(m * rows[p], -1.0f);
              const float* bias = p % 2 == 0 ? biases[p].data() : nullptr;
              MatMul(x.data(), m, views[p], bias, one[p].data(), *pool, kernel);
              products.push_back({.w = &views[p], .bias = bias, .y = many[p].data()});
            }
            MatMulMany(x.data(), m, products, *pool, kernel);
            for (size_t p = 0; p < std::size(rows); ++p) {
              EXPECT_EQ(0, std::memcmp(one[p].data(), many[p].data(), one[p].size() * 4))
                  << "product " << p;
            }
          }
        }
      }
    }
  }
  EXPECT_GE(kernels_checked, 6);  // f32 for each type, both k
}

TEST(MatMulDeathTest, RefusesKernelsThatDoNotTakeTheWeights) {
  const auto wf = test::RandomFloats(4 * 64, 7);
  const test::StoredMatrix w = test::MakeStored(wf, WeightFormat::kBF16, 4, 64);
  std::vector<float> x(64, 1.0f), y(4);
  ThreadPool pool(1);
  EXPECT_DEATH(MatMul(x.data(), 1, w.view, nullptr, y.data(), pool, MatMulKernel::kInt8),
               "internal check failed");
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
