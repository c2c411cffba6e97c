// StreamRead: the memory-bandwidth yardstick that decode is compared with (bench). Vector loads
// with four independent accumulators per thread, so that nothing but the memory system limits it.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/stream_read.cc"
#include <algorithm>
#include <vector>

#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/ops.h"

HWY_BEFORE_NAMESPACE();
namespace qwenvl::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

float StreamReadTarget(const float* x, int64_t n, ThreadPool& pool) {
  const hn::ScalableTag<float> df;
  const auto lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t step = 4 * lanes, blocks = n / step;
  std::vector<float> partial(static_cast<size_t>(pool.size()), 0.0f);
  pool.RunRanges(blocks, [&](int64_t begin, int64_t end, int worker) {
    auto a0 = hn::Zero(df), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t b = begin; b < end; ++b) {
      const float* p = x + b * step;
      a0 = hn::Add(a0, hn::LoadU(df, p));
      a1 = hn::Add(a1, hn::LoadU(df, p + lanes));
      a2 = hn::Add(a2, hn::LoadU(df, p + 2 * lanes));
      a3 = hn::Add(a3, hn::LoadU(df, p + 3 * lanes));
    }
    partial[worker] = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  });
  float sum = 0.0f;
  for (float p : partial) sum += p;
  for (int64_t i = blocks * step; i < n; ++i) sum += x[i];
  return sum;
}

}  // namespace qwenvl::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qwenvl::kernels {

HWY_EXPORT(StreamReadTarget);

float StreamRead(const float* x, int64_t n, ThreadPool& pool) {
  return HWY_DYNAMIC_DISPATCH(StreamReadTarget)(x, n, pool);
}

}  // namespace qwenvl::kernels
#endif  // HWY_ONCE
