#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/int8_block.h"
#include "kernels/matmul_kernel.h"
#include "kernels/ops.h"
#include "kernels/quant_vnni.h"
#include "kernels/reference.h"
#include "test_util.h"
#include "util/error.h"

namespace qwenvl::kernels {
namespace {

// Same accumulation tolerance as matmul_test: relative to Σ|x·w|.
constexpr double kMatMulRelTol = 2e-6;
// bf16 rounding of x and of the weights: 2^-9 relative each.
constexpr double kBf16RelTol = 2.0 / 512;
constexpr double kMatMulAbsTol = 1e-6;
// Rounding to the nearest level errs by at most half a step: scale/2, scale = max|w| / max_q;
// the float32 scale and its inverse add up to 127 levels × 1.2e-7 relative (2e-5 of a step).
// Half a step of the stored scale, which is max|w|/max_q rounded up to float16 (2^-11 relative).
constexpr double kHalfStep = 0.5 * (1.0 + 1.0 / 1024);

double MaxQ(WeightFormat t) { return t == WeightFormat::kQ8 ? 127.0 : 7.0; }
// The offset that makes stored values unsigned (dtype.h).
double WeightOffset(WeightFormat t) { return t == WeightFormat::kQ8 ? 128.0 : 8.0; }

// Largest |w| in the quantization block of (row, col).
double BlockMax(const WeightView& w, int64_t row, int64_t col) {
  const int64_t b0 = col / kQuantBlock * kQuantBlock;
  double amax = 0;
  for (int64_t c = b0; c < std::min(w.cols, b0 + kQuantBlock); ++c) {
    amax = std::max(amax, std::fabs(double(WeightAtRef(w, row, c))));
  }
  return amax;
}

// Largest |x| in the activation block of column p.
double XBlockMax(const float* x, int64_t k, int64_t p) {
  const int64_t b0 = p / kQuantBlock * kQuantBlock;
  double amax = 0;
  for (int64_t c = b0; c < std::min(k, b0 + kQuantBlock); ++c)
    amax = std::max(amax, double(std::fabs(x[c])));
  return amax;
}

struct Shape {
  int64_t m, k, n;
};
constexpr Shape kShapes[] = {{1, 1, 1},      {1, 7, 9},     {3, 33, 17},   {17, 80, 7},
                             {1, 1279, 128}, {64, 128, 9},  {9, 1279, 17}, {1, 3420, 5},
                             {20, 64, 33},   {17, 4160, 5}, {70, 200, 13}, {40, 4200, 33}};

void CheckQuantized(const Shape& s, WeightFormat stored, WeightFormat qtype) {
  SCOPED_TRACE(testing::Message() << "m=" << s.m << " k=" << s.k << " n=" << s.n << " "
                                  << WeightFormatName(stored) << "->" << WeightFormatName(qtype));
  const auto x = test::RandomFloats(s.m * s.k, 50);
  const auto wf = test::RandomFloats(s.n * s.k, 51);
  const auto bias = test::RandomFloats(s.n, 52);
  const test::StoredMatrix w = test::MakeStored(wf, stored, s.n, s.k);
  ThreadPool pool1(1), pool3(3);
  const QuantizedMatrix q = Quantize(w.view, qtype, pool3);
  const WeightView qv = q.view();
  ASSERT_EQ(qv.type, qtype);
  // Each dequantized weight is within half a quantization step of the original.
  for (int64_t r = 0; r < s.n; ++r) {
    for (int64_t c = 0; c < s.k; ++c) {
      const double step = BlockMax(w.view, r, c) / MaxQ(qtype);
      ASSERT_NEAR(WeightAtRef(qv, r, c), WeightAtRef(w.view, r, c), kHalfStep * step + 1e-12)
          << r << "," << c;
    }
  }
  std::vector<float> ref_q(s.m * s.n), ref_w(s.m * s.n), abs_sum(s.m * s.n), q_err(s.m * s.n);
  // The VNNI decode path also rounds x to int8 per block (step max|x|/127) and sums the weights
  // with their unsigned offset: bound both.
  std::vector<float> x_err(s.m * s.n), offset_sum(s.m * s.n);
  MatMulRef(x.data(), s.m, qv, bias.data(), ref_q.data());
  MatMulRef(x.data(), s.m, w.view, bias.data(), ref_w.data());
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.n; ++j) {
      double a = 0, e = 0, xe = 0, off = 0;
      for (int64_t p = 0; p < s.k; ++p) {
        const double wq = WeightAtRef(qv, j, p), xp = x[i * s.k + p];
        a += std::fabs(xp * wq);
        e += std::fabs(xp) * kHalfStep * BlockMax(w.view, j, p) / MaxQ(qtype);
        xe += std::fabs(wq) * kHalfStep * XBlockMax(x.data() + i * s.k, s.k, p) / 127.0;
        off += std::fabs(xp) *
               (std::fabs(wq) + WeightOffset(qtype) * BlockMax(w.view, j, p) / MaxQ(qtype));
      }
      abs_sum[i * s.n + j] = float(a);
      q_err[i * s.n + j] = float(e);
      x_err[i * s.n + j] = float(xe);
      offset_sum[i * s.n + j] = float(off);
    }
  }
  test::ForEachTarget([&] {
    std::vector<float> y1(s.m * s.n), y3(s.m * s.n);
    MatMul(x.data(), s.m, qv, bias.data(), y1.data(), pool1);
    MatMul(x.data(), s.m, qv, bias.data(), y3.data(), pool3);
    for (int64_t i = 0; i < s.m * s.n; ++i) {
      const double acc_tol = kMatMulRelTol * abs_sum[i] + kMatMulAbsTol;
      ASSERT_NEAR(y1[i], ref_q[i], acc_tol) << "vs dequantized reference at " << i;
      ASSERT_NEAR(y1[i], ref_w[i], q_err[i] + acc_tol) << "vs unquantized reference at " << i;
    }
    EXPECT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * 4)) << "thread count changed y";
    std::vector<float> row(s.k);
    ConvertWeightRow(qv, s.n - 1, row.data());
    for (int64_t c = 0; c < s.k; ++c) ASSERT_EQ(row[c], WeightAtRef(qv, s.n - 1, c)) << c;
  });
  // The kernels that round x: int8 per block (the bound adds x's rounding and the float32
  // arithmetic on the offset sums), bf16 (x and the dequantized weights, 2^-9 relative each).
  for (MatMulKernel kernel :
       {MatMulKernel::kInt8, MatMulKernel::kBf16Dot, MatMulKernel::kAmxBf16}) {
    if (!MatMulKernelRuns(kernel)) continue;
    SCOPED_TRACE(std::string(MatMulKernelName(kernel)));
    std::vector<float> y1(s.m * s.n), y3(s.m * s.n);
    MatMul(x.data(), s.m, qv, bias.data(), y1.data(), pool1, kernel);
    MatMul(x.data(), s.m, qv, bias.data(), y3.data(), pool3, kernel);
    for (int64_t i = 0; i < s.m * s.n; ++i) {
      const double acc_tol =
          kernel == MatMulKernel::kInt8
              ? kMatMulRelTol * offset_sum[i] + kMatMulAbsTol + x_err[i]
              : kBf16RelTol * abs_sum[i] + kMatMulRelTol * abs_sum[i] + kMatMulAbsTol;
      ASSERT_NEAR(y1[i], ref_q[i], acc_tol) << "vs dequantized reference at " << i;
    }
    EXPECT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * 4)) << "thread count changed y";
  }
}

TEST(Quantize, Q8MatMulMatchesReference) {
  for (const Shape& s : kShapes) CheckQuantized(s, WeightFormat::kBF16, WeightFormat::kQ8);
  CheckQuantized({5, 100, 11}, WeightFormat::kF32, WeightFormat::kQ8);
  CheckQuantized({5, 100, 11}, WeightFormat::kF16, WeightFormat::kQ8);
}

TEST(Quantize, Q4MatMulMatchesReference) {
  for (const Shape& s : kShapes) CheckQuantized(s, WeightFormat::kBF16, WeightFormat::kQ4);
  CheckQuantized({5, 100, 11}, WeightFormat::kF32, WeightFormat::kQ4);
}

TEST(Quantize, ZeroBlocksStayZero) {
  std::vector<float> zeros(2 * 40, 0.0f);
  const test::StoredMatrix w = test::MakeStored(zeros, WeightFormat::kF32, 2, 40);
  ThreadPool pool(1);
  for (WeightFormat t : {WeightFormat::kQ8, WeightFormat::kQ4}) {
    const QuantizedMatrix q = Quantize(w.view, t, pool);
    for (int64_t c = 0; c < 40; ++c) EXPECT_EQ(WeightAtRef(q.view(), 1, c), 0.0f);
  }
}

// The int8 kernels' vector rounding of x gives the integers, scale and sum of the scalar one, for
// every block length, random magnitudes, exact ties (x·127/amax = k + ½ rounds to even) and zeros.
TEST(Quantize, VectorInt8BlockEqualsScalar) {
#if defined(__x86_64__)
  if (!MatMulKernelRuns(MatMulKernel::kInt8)) GTEST_SKIP() << "this CPU has no AVX-512 VNNI";
  std::vector<std::vector<float>> blocks;
  for (int seed = 0; seed < 200; ++seed) {
    std::vector<float> v = test::RandomFloats(32, 100 + seed);
    const float mag = std::ldexp(1.0f, seed % 40 - 20);
    for (float& f : v) f *= mag;
    blocks.push_back(v);
  }
  std::vector<float> ties(32);
  for (int t = 0; t < 32; ++t) ties[t] = static_cast<float>(t % 2 ? t * 4 + 0.5 : -(t * 3 + 0.5));
  ties[31] = 127.0f;  // amax 127: the scale is 1 and each x·inv is an exact half
  blocks.push_back(ties);
  blocks.push_back(std::vector<float>(32, 0.0f));
  blocks.push_back(std::vector<float>(32, -3.25f));
  blocks.push_back(std::vector<float>(32, 1e-38f));  // 127 / amax overflows: rounded to zeros
  blocks.push_back(std::vector<float>(32, 3e-37f));
  for (const std::vector<float>& v : blocks) {
    for (int64_t n = 1; n <= 32; ++n) {
      int8_t want[32] = {}, got[32];
      std::memset(got, 0x55, sizeof(got));
      const Int8Block a = QuantizeInt8Block(v.data(), n, want);
      const Int8Block b = QuantizeInt8Block32(v.data(), n, got);
      ASSERT_EQ(0, std::memcmp(want, got, 32)) << "n " << n << " x[0] " << v[0];
      ASSERT_EQ(a.sum, b.sum) << "n " << n;
      ASSERT_EQ(std::memcmp(&a.scale, &b.scale, 4), 0) << "n " << n;
      if (std::fabs(v[0]) < 4e-37f) {
        ASSERT_EQ(b.sum, 0) << "n " << n;
      }
    }
  }
#else
  GTEST_SKIP() << "x86-64 only";
#endif
}

TEST(Quantize, RejectsQuantizedOrStoredTargets) {
  std::vector<float> v(64, 1.0f);
  const test::StoredMatrix w = test::MakeStored(v, WeightFormat::kF32, 2, 32);
  ThreadPool pool(1);
  EXPECT_THROW(Quantize(w.view, WeightFormat::kBF16, pool), Error);
  const QuantizedMatrix q = Quantize(w.view, WeightFormat::kQ8, pool);
  EXPECT_THROW(Quantize(q.view(), WeightFormat::kQ4, pool), Error);
}

}  // namespace
}  // namespace qwenvl::kernels
