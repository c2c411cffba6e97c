// Segmented bidirectional attention of the vision encoder (model-spec §3.4, §3.5): every segment
// (one window, or one frame in the full-attention blocks) attends only to itself. Each segment is
// computed on its own — never a full attention under a mask.
#pragma once

#include <cstdint>
#include <span>

#include "util/thread_pool.h"

namespace qwenvl::model {

// How segments are spread over the pool. kAuto picks kSegments when there are many (windows) and
// kQueries when there are few (frames); the others exist for benchmarks.
enum class SegmentSchedule {
  kAuto,
  kSegments,  // whole segments per worker, the kernel running inline
  kQueries,   // one kernel call per segment, the kernel spreading heads × queries over the pool
};

struct SegmentedAttentionArgs {
  const float* qkv;  // [num_patches, 3 * hidden]: q, k, v columns, heads of head_dim inside each
  float* out;        // [num_patches, hidden]
  std::span<const int64_t> cu_seqlens;  // segment boundaries in patches, no empty segments
  int64_t num_heads;
  int64_t head_dim;
  SegmentSchedule schedule = SegmentSchedule::kAuto;
};

// out[segment] = softmax(q kᵀ / sqrt(head_dim)) v per head, for every segment.
void SegmentedAttention(const SegmentedAttentionArgs& args, ThreadPool& pool);

}  // namespace qwenvl::model
