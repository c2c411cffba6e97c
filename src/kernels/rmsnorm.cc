// RmsNorm: rows split over threads, each row summed in one fixed order (bodies in
// activations-inl.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/rmsnorm.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/activations-inl.h"
#include "kernels/ops.h"

HWY_BEFORE_NAMESPACE();
namespace qwenvl::kernels::HWY_NAMESPACE {

void RmsNormTarget(const float* x, const float* weight, int64_t rows, int64_t dim, float eps,
                   float* y, ThreadPool& pool) {
  pool.Run(rows, [&](int64_t r, int) { RmsNormRow(x + r * dim, weight, dim, eps, y + r * dim); });
}

}  // namespace qwenvl::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qwenvl::kernels {

HWY_EXPORT(RmsNormTarget);

void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps, float* y,
             ThreadPool& pool) {
  HWY_DYNAMIC_DISPATCH(RmsNormTarget)(x, weight, rows, dim, eps, y, pool);
}

}  // namespace qwenvl::kernels
#endif  // HWY_ONCE
