// MatMul: runtime dispatch to the best compiled SIMD target (bodies in matmul-inl.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/matmul-inl.h"
#include "kernels/ops.h"
#include "kernels/quant_vnni.h"
#include "util/error.h"

HWY_BEFORE_NAMESPACE();
namespace qwenvl::kernels::HWY_NAMESPACE {

void MatMulTarget(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
                  ThreadPool& pool) {
  const int64_t n = w.rows, k = w.cols;
  switch (w.type) {
    case WeightFormat::kF32:
      return MatMulRows(x, m, StoredRows<float>{static_cast<const float*>(w.data), k}, n, k, bias,
                        y, pool);
    case WeightFormat::kBF16:
      return MatMulRows(x, m,
                        StoredRows<hwy::bfloat16_t>{static_cast<const hwy::bfloat16_t*>(w.data), k},
                        n, k, bias, y, pool);
    case WeightFormat::kF16:
      return MatMulRows(x, m,
                        StoredRows<hwy::float16_t>{static_cast<const hwy::float16_t*>(w.data), k},
                        n, k, bias, y, pool);
    case WeightFormat::kQ8:
    case WeightFormat::kQ4:
#if HWY_TARGET == HWY_AVX3_DL
      // Decode: int8 dot products beat converting the weights to float (bench: q8/q4 m:1).
      if (m < kGemmMinRows && HaveAvx512Vnni()) return MatMulQuantVnni(x, m, w, bias, y, pool);
#endif
      if (w.type == WeightFormat::kQ8) return MatMulRows(x, m, MakeQ8Rows(w), n, k, bias, y, pool);
      return MatMulRows(x, m, MakeQ4Rows(w), n, k, bias, y, pool);
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
