// Attention: tasks (kv head × block of query positions) split statically over threads; bodies
// in attention-inl.h.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/attention-inl.h"
#include "kernels/ops.h"
#include "util/error.h"

HWY_BEFORE_NAMESPACE();
namespace qwenvl::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void AttentionTarget(const AttentionArgs& a, ThreadPool& pool) {
  const int64_t group = a.num_heads / a.num_kv_heads;
  const int64_t block = std::max<int64_t>(1, kRowsPerTask / group);  // positions per task
  const int64_t blocks = (a.q_len + block - 1) / block;
  const hn::ScalableTag<float> df;
  const int64_t tile = kKvVecs * static_cast<int64_t>(hn::Lanes(df));
  const int64_t tiles = (a.kv_len + tile - 1) / tile;
  // Transposed key tiles when query blocks share them; decode scores the cache's rows in place.
  float* kt_all = nullptr;
  if (!ScoresFromKeyRows(a, block)) {
    thread_local std::vector<float> kt_storage;  // grows to the largest request, then stays
    kt_storage.resize(a.num_kv_heads * tiles * a.head_dim * tile);
    kt_all = kt_storage.data();
    pool.Run(a.num_kv_heads * tiles,
             [&](int64_t i, int) { PackKeyTile(a, i / tiles, i % tiles, tile, kt_all); });
  }
  pool.Run(a.num_kv_heads * blocks, [&](int64_t task, int) {
    thread_local FlashScratch scratch;
    const int64_t kvh = task / blocks, pos0 = (task % blocks) * block;
    const FlashTask t{kvh, pos0, std::min(block, a.q_len - pos0), group};
    FlashAttentionTask(a, t, kt_all, scratch);
  });
}

}  // namespace qwenvl::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qwenvl::kernels {

HWY_EXPORT(AttentionTarget);

void Attention(const AttentionArgs& args, ThreadPool& pool) {
  QWENVL_CHECK(args.num_kv_heads > 0 && args.num_heads % args.num_kv_heads == 0);
  QWENVL_CHECK(args.kv_len > 0 && args.q_offset >= 0);
  if (args.q_len <= 0) return;
  HWY_DYNAMIC_DISPATCH(AttentionTarget)(args, pool);
}

}  // namespace qwenvl::kernels
#endif  // HWY_ONCE
