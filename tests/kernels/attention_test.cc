#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/ops.h"
#include "kernels/reference.h"
#include "test_util.h"

namespace qwenvl::kernels {
namespace {

// Outputs are convex combinations of v values in [-1, 1]; float32 softmax and sums over up to a
// few thousand keys stay within this.
constexpr float kAttentionTol = 2e-5f;

struct Case {
  int64_t q_len, kv_len, num_heads, num_kv_heads, head_dim;
  bool causal;
  int64_t q_offset;
};

void CheckAttention(const Case& c) {
  SCOPED_TRACE(testing::Message() << "q_len=" << c.q_len << " kv_len=" << c.kv_len << " heads="
                                  << c.num_heads << "/" << c.num_kv_heads << " d=" << c.head_dim
                                  << " causal=" << c.causal << " off=" << c.q_offset);
  const int64_t q_stride = c.num_heads * c.head_dim + 3, kv_stride = c.num_kv_heads * c.head_dim;
  const auto q = test::RandomFloats(c.q_len * q_stride, 40, -2.0f, 2.0f);
  const auto k = test::RandomFloats(c.kv_len * kv_stride, 41, -2.0f, 2.0f);
  const auto v = test::RandomFloats(c.kv_len * kv_stride, 42);
  const int64_t out_stride = c.num_heads * c.head_dim;
  std::vector<float> ref(c.q_len * out_stride), o1(ref.size()), o3(ref.size());
  AttentionArgs a{q.data(),    q_stride,
                  k.data(),    kv_stride,
                  v.data(),    kv_stride,
                  ref.data(),  out_stride,
                  c.q_len,     c.kv_len,
                  c.num_heads, c.num_kv_heads,
                  c.head_dim,  1.0f / std::sqrt(float(c.head_dim)),
                  c.causal,    c.q_offset};
  AttentionRef(a);
  ThreadPool pool1(1), pool3(3);
  test::ForEachTarget([&] {
    a.out = o1.data();
    Attention(a, pool1);
    a.out = o3.data();
    Attention(a, pool3);
    for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(o1[i], ref[i], kAttentionTol) << "at " << i;
    EXPECT_EQ(0, std::memcmp(o1.data(), o3.data(), o1.size() * 4)) << "thread count changed out";
  });
}

TEST(Attention, MatchesReference) {
  const Case cases[] = {{1, 1, 1, 1, 16, false, 0},     {7, 7, 4, 2, 16, true, 0},
                        {1, 17, 16, 2, 128, true, 16},  {9, 80, 16, 2, 128, true, 71},
                        {17, 17, 16, 16, 80, false, 0}, {80, 80, 2, 1, 80, true, 0},
                        {128, 128, 2, 2, 80, false, 0}, {3, 1279, 2, 1, 128, true, 1276},
                        {1, 3420, 1, 1, 64, false, 0},  {130, 130, 3, 1, 34, true, 0},
                        {33, 200, 4, 4, 16, false, 0}};
  for (const Case& c : cases) CheckAttention(c);
}

}  // namespace
}  // namespace qwenvl::kernels
