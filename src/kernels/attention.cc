#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/ops.h"

namespace qwenvl::kernels {

void Attention(const AttentionArgs& a, ThreadPool& pool) {
  const int64_t group = a.num_heads / a.num_kv_heads, d = a.head_dim;
  pool.Run(a.num_heads * a.q_len, [&](int64_t task, int) {
    const int64_t h = task / a.q_len, i = task % a.q_len, kvh = h / group;
    const int64_t visible = a.causal ? std::min(a.kv_len, a.q_offset + i + 1) : a.kv_len;
    thread_local std::vector<float> p;
    p.resize(visible);
    const float* q = a.q + i * a.q_stride + h * d;
    float max = -INFINITY;
    for (int64_t j = 0; j < visible; ++j) {
      const float* kr = a.k + j * a.k_stride + kvh * d;
      float dot = 0;
      for (int64_t c = 0; c < d; ++c) dot += q[c] * kr[c];
      p[j] = dot * a.scale;
      max = std::max(max, p[j]);
    }
    float sum = 0;
    for (int64_t j = 0; j < visible; ++j) sum += (p[j] = std::exp(p[j] - max));
    float* o = a.out + i * a.out_stride + h * d;
    std::fill(o, o + d, 0.0f);
    for (int64_t j = 0; j < visible; ++j) {
      const float* vr = a.v + j * a.v_stride + kvh * d;
      for (int64_t c = 0; c < d; ++c) o[c] += p[j] * vr[c];
    }
    const float inv = 1.0f / sum;
    for (int64_t c = 0; c < d; ++c) o[c] *= inv;
  });
}

}  // namespace qwenvl::kernels
