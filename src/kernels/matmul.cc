// MatMul: runtime dispatch to the best compiled SIMD target (bodies in matmul-inl.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/matmul-inl.h"
#include "kernels/ops.h"
#include "util/error.h"

HWY_BEFORE_NAMESPACE();
namespace qwenvl::kernels::HWY_NAMESPACE {

void MatMulTarget(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
                  ThreadPool& pool) {
  switch (w.type) {
    case WeightType::kF32:
      return MatMulStored<float>(x, m, w.data, w.rows, w.cols, bias, y, pool);
    case WeightType::kBF16:
      return MatMulStored<hwy::bfloat16_t>(x, m, w.data, w.rows, w.cols, bias, y, pool);
    case WeightType::kF16:
      return MatMulStored<hwy::float16_t>(x, m, w.data, w.rows, w.cols, bias, y, pool);
    default:
      QWENVL_CHECK(false && "quantized MatMul not implemented");
  }
}

}  // namespace qwenvl::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qwenvl::kernels {

HWY_EXPORT(MatMulTarget);

void MatMul(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
            ThreadPool& pool) {
  QWENVL_CHECK(m >= 0 && w.rows >= 0 && w.cols >= 0);
  if (m == 0 || w.rows == 0) return;
  HWY_DYNAMIC_DISPATCH(MatMulTarget)(x, m, w, bias, y, pool);
}

}  // namespace qwenvl::kernels
#endif  // HWY_ONCE
