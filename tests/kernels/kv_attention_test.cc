// Attention over KV rows stored as bf16 and q8 (StoreKvRows): the Highway kernel against the
// scalar reference on the same stored rows, and both against float32 keys and values within the
// rounding the type allows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/ops.h"
#include "kernels/reference.h"
#include "test_util.h"

namespace qwenvl::kernels {
namespace {

// Same stored values, different summation order: the float32 kernel's tolerance
// (attention_test.cc).
constexpr float kSameValuesTol = 2e-5f;

// Against float32 keys and values (q, k in [-2, 2], v in [-1, 1]; outputs are convex
// combinations of v): bf16 keeps 8 significant bits (relative error ≤ 2⁻⁹), q8 an absolute error
// ≤ max|x| / 254 per block. Measured worst cases over the cases below, printed: bf16 2.9e-3,
// q8 1.0e-2; bounds about 3× that.
constexpr float kBf16Tol = 1e-2f, kQ8Tol = 3e-2f;

struct Case {
  int64_t q_len, kv_len, num_heads, num_kv_heads, head_dim;
  bool causal;
  int64_t q_offset;
};

// rows [n, heads·d] (stride heads·d) stored as type with a row stride of KvRowFloats + pad.
std::vector<float> Store(const std::vector<float>& x, int64_t n, KvType type, int64_t heads,
                         int64_t d, int64_t stride) {
  std::vector<float> out(static_cast<size_t>(n * stride), std::nanf(""));
  StoreKvRows(x.data(), heads * d, n, type, heads, d, out.data(), stride);
  return out;
}

float CheckType(const Case& c, KvType type) {
  SCOPED_TRACE(testing::Message() << KvTypeName(type) << " q_len=" << c.q_len
                                  << " kv_len=" << c.kv_len << " heads=" << c.num_heads << "/"
                                  << c.num_kv_heads << " d=" << c.head_dim);
  const int64_t q_stride = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  const auto q = test::RandomFloats(c.q_len * q_stride, 40, -2.0f, 2.0f);
  const auto k = test::RandomFloats(c.kv_len * kv, 41, -2.0f, 2.0f);
  const auto v = test::RandomFloats(c.kv_len * kv, 42);
  const int64_t stride = KvRowFloats(type, c.num_kv_heads, c.head_dim) + 1;  // strided rows
  const auto ks = Store(k, c.kv_len, type, c.num_kv_heads, c.head_dim, stride);
  const auto vs = Store(v, c.kv_len, type, c.num_kv_heads, c.head_dim, stride);
  std::vector<float> exact(c.q_len * q_stride), ref(exact.size()), o1(exact.size()),
      o3(exact.size());
  AttentionArgs a{.q = q.data(),
                  .q_stride = q_stride,
                  .k = k.data(),
                  .k_stride = kv,
                  .v = v.data(),
                  .v_stride = kv,
                  .out = exact.data(),
                  .out_stride = q_stride,
                  .q_len = c.q_len,
                  .kv_len = c.kv_len,
                  .num_heads = c.num_heads,
                  .num_kv_heads = c.num_kv_heads,
                  .head_dim = c.head_dim,
                  .scale = 1.0f / std::sqrt(float(c.head_dim)),
                  .causal = c.causal,
                  .q_offset = c.q_offset};
  AttentionRef(a);  // float32 keys and values
  a.k = ks.data(), a.v = vs.data(), a.k_stride = a.v_stride = stride, a.kv_type = type;
  a.out = ref.data();
  AttentionRef(a);
  float worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::fabs(ref[i] - exact[i]));
  ThreadPool pool1(1), pool3(3);
  test::ForEachTarget([&] {
    a.out = o1.data();
    Attention(a, pool1);
    a.out = o3.data();
    Attention(a, pool3);
    for (size_t i = 0; i < ref.size(); ++i) {
      ASSERT_NEAR(o1[i], ref[i], kSameValuesTol) << "at " << i;
    }
    EXPECT_EQ(0, std::memcmp(o1.data(), o3.data(), o1.size() * 4)) << "thread count changed out";
  });
  return worst;
}

TEST(KvAttention, StoredTypesMatchReferenceAndFloat32) {
  const Case cases[] = {{1, 1, 1, 1, 16, false, 0},        {7, 7, 4, 2, 16, true, 0},
                        {1, 17, 16, 2, 128, true, 16},     {9, 80, 16, 2, 128, true, 71},
                        {80, 80, 2, 1, 80, true, 0},       {3, 1279, 2, 1, 128, true, 1276},
                        {1, 700, 28, 4, 128, true, 699},   {130, 130, 3, 1, 34, true, 0},
                        {1, 2000, 16, 2, 128, true, 1999}, {2, 1500, 16, 2, 128, true, 1498},
                        {1, 1000, 64, 8, 128, true, 999}};
  float worst_bf16 = 0, worst_q8 = 0;
  for (const Case& c : cases) {
    worst_bf16 = std::max(worst_bf16, CheckType(c, KvType::kBf16));
    worst_q8 = std::max(worst_q8, CheckType(c, KvType::kQ8));
    EXPECT_EQ(CheckType(c, KvType::kF32), 0.0f);  // f32 rows are the floats themselves
  }
  std::printf("[ kv ] attention vs float32 K/V: bf16 max error %.2e, q8 %.2e\n", worst_bf16,
              worst_q8);
  EXPECT_LT(worst_bf16, kBf16Tol);
  EXPECT_LT(worst_q8, kQ8Tol);
  EXPECT_GT(worst_q8, worst_bf16);  // q8 rounds more than bf16
}

TEST(KvRows, SizesPerType) {
  EXPECT_EQ(KvRowBytes(KvType::kF32, 2, 128), 1024);
  EXPECT_EQ(KvRowBytes(KvType::kBf16, 2, 128), 512);
  EXPECT_EQ(KvRowBytes(KvType::kQ8, 2, 128), 256 + 8 * 4);  // 8 blocks of 32, float scales
  EXPECT_EQ(KvRowBytes(KvType::kQ8, 1, 34), 34 + 4);        // one block per head row
  EXPECT_EQ(KvRowFloats(KvType::kQ8, 1, 34), 10);
  EXPECT_EQ(KvQuantBlock(128), 32);
  EXPECT_EQ(KvQuantBlock(80), 80);
}

// Round trips: bf16 within half an ulp of 8 bits, q8 within half a step of its block, f32 exact;
// an all-zero block and extreme values stay finite.
TEST(KvRows, RoundTripWithinTheTypesRounding) {
  const int64_t heads = 2, d = 64, n = heads * d;
  std::vector<float> x = test::RandomFloats(n, 7, -3.0f, 3.0f);
  std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // a zero block: scale 0
  x[70] = 3e38f, x[71] = -3e38f;                    // huge values in one block
  for (KvType type : {KvType::kF32, KvType::kBf16, KvType::kQ8}) {
    SCOPED_TRACE(KvTypeName(type));
    std::vector<float> row(static_cast<size_t>(KvRowFloats(type, heads, d))), back(n);
    StoreKvRows(x.data(), n, 1, type, heads, d, row.data(), 0);
    LoadKvValues(row.data(), type, heads, d, 0, n, back.data());
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_TRUE(std::isfinite(back[i])) << i;
      float tol = 0;
      if (type == KvType::kBf16) tol = std::fabs(x[i]) * (1.0f / 256);
      if (type == KvType::kQ8) {
        float max = 0;
        for (int64_t j = i / 32 * 32; j < i / 32 * 32 + 32; ++j)
          max = std::max(max, std::fabs(x[j]));
        tol = max / 254 * 1.0001f;
      }
      EXPECT_LE(std::fabs(back[i] - x[i]), tol) << i;
    }
    for (int64_t i = 32; i < 64; ++i) EXPECT_EQ(back[i], 0.0f);
    std::vector<float> part(10);  // a range inside the second head
    LoadKvValues(row.data(), type, heads, d, d + 5, 10, part.data());
    for (int i = 0; i < 10; ++i) EXPECT_EQ(part[i], back[d + 5 + i]);
  }
}

// A decode step scores its task's rows against the cache's key rows where they are stored, and
// prefill against key tiles transposed once per call; both sum each score in the same order. So a
// decode row equals the same row computed as the last position of a prefill, bit for bit, for
// every stored type and target, where the values are accumulated in the same row groups too (the
// multi-row value kernel takes rows from the task's first in twos at head_dim 128 and fours at 80:
// a GQA group that is a multiple of that, as in the published models, or a head_dim without it).
TEST(KvAttention, DecodeRowEqualsTheSameRowInPrefill) {
  struct Shape {
    int64_t kv_len, num_heads, num_kv_heads, head_dim;
  };
  for (const Shape& c : {Shape{3000, 16, 2, 128}, Shape{700, 28, 4, 128}, Shape{130, 4, 2, 16},
                         Shape{65, 8, 2, 80}, Shape{66, 7, 1, 16}}) {
    for (KvType type : {KvType::kF32, KvType::kBf16, KvType::kQ8}) {
      SCOPED_TRACE(testing::Message() << KvTypeName(type) << " kv_len=" << c.kv_len
                                      << " heads=" << c.num_heads << "/" << c.num_kv_heads);
      const int64_t positions = 9, q_stride = c.num_heads * c.head_dim;
      const int64_t kv = c.num_kv_heads * c.head_dim;
      const auto q = test::RandomFloats(positions * q_stride, 50, -2.0f, 2.0f);
      const int64_t stride = KvRowFloats(type, c.num_kv_heads, c.head_dim);
      const auto ks = Store(test::RandomFloats(c.kv_len * kv, 51, -2.0f, 2.0f), c.kv_len, type,
                            c.num_kv_heads, c.head_dim, stride);
      const auto vs = Store(test::RandomFloats(c.kv_len * kv, 52), c.kv_len, type, c.num_kv_heads,
                            c.head_dim, stride);
      std::vector<float> prefill(positions * q_stride), decode(q_stride);
      AttentionArgs a{.q = q.data(),
                      .q_stride = q_stride,
                      .k = ks.data(),
                      .k_stride = stride,
                      .v = vs.data(),
                      .v_stride = stride,
                      .out = prefill.data(),
                      .out_stride = q_stride,
                      .q_len = positions,
                      .kv_len = c.kv_len,
                      .num_heads = c.num_heads,
                      .num_kv_heads = c.num_kv_heads,
                      .head_dim = c.head_dim,
                      .scale = 1.0f / std::sqrt(float(c.head_dim)),
                      .causal = true,
                      .q_offset = c.kv_len - positions,
                      .kv_type = type};
      ThreadPool pool(2);
      test::ForEachTarget([&] {
        a.out = prefill.data(), a.q = q.data(), a.q_len = positions;
        a.q_offset = c.kv_len - positions;
        Attention(a, pool);
        a.out = decode.data(), a.q = q.data() + (positions - 1) * q_stride, a.q_len = 1;
        a.q_offset = c.kv_len - 1;
        Attention(a, pool);
        EXPECT_EQ(0, std::memcmp(decode.data(), prefill.data() + (positions - 1) * q_stride,
                                 decode.size() * sizeof(float)));
      });
    }
  }
}

}  // namespace
}  // namespace qwenvl::kernels
