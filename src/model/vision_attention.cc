#include "model/vision_attention.h"

#include <cmath>

#include "kernels/ops.h"
#include "util/error.h"

namespace qwenvl::model {

namespace {

kernels::AttentionArgs SegmentArgs(const SegmentedAttentionArgs& a, int64_t begin, int64_t end) {
  const int64_t hidden = a.num_heads * a.head_dim, qkv_stride = 3 * hidden;
  const float* rows = a.qkv + begin * qkv_stride;
  return kernels::AttentionArgs{
      .q = rows,
      .q_stride = qkv_stride,
      .k = rows + hidden,
      .k_stride = qkv_stride,
      .v = rows + 2 * hidden,
      .v_stride = qkv_stride,
      .out = a.out + begin * hidden,
      .out_stride = hidden,
      .q_len = end - begin,
      .kv_len = end - begin,
      .num_heads = a.num_heads,
      .num_kv_heads = a.num_heads,
      .head_dim = a.head_dim,
      .scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim)),
      .causal = false,
      .q_offset = 0,
  };
}

}  // namespace

void SegmentedAttention(const SegmentedAttentionArgs& a, ThreadPool& pool) {
  QWENVL_CHECK(a.cu_seqlens.size() >= 1 && a.cu_seqlens.front() == 0);
  const int64_t num_segments = static_cast<int64_t>(a.cu_seqlens.size()) - 1;
  // Many small segments (windows of ≤ 64 patches): give each worker whole segments, one pool
  // dispatch per layer instead of one per window. A 1-thread pool starts no threads and runs the
  // kernel inline, so the workers can share it. Few large segments (full-attention frames): let the
  // kernel spread heads × queries over the pool.
  SegmentSchedule schedule = a.schedule;
  if (schedule == SegmentSchedule::kAuto) {
    schedule = num_segments >= 4 * static_cast<int64_t>(pool.size()) ? SegmentSchedule::kSegments
                                                                     : SegmentSchedule::kQueries;
  }
  if (schedule == SegmentSchedule::kSegments) {
    ThreadPool inline_pool(1);
    pool.Run(num_segments, [&](int64_t s, int) {
      kernels::Attention(SegmentArgs(a, a.cu_seqlens[s], a.cu_seqlens[s + 1]), inline_pool);
    });
    return;
  }
  for (int64_t s = 0; s < num_segments; ++s) {
    kernels::Attention(SegmentArgs(a, a.cu_seqlens[s], a.cu_seqlens[s + 1]), pool);
  }
}

}  // namespace qwenvl::model
