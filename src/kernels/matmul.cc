// MatMul: the kernel the caller chose (matmul_kernel.h), and for kF32 runtime dispatch to the best
// compiled SIMD target (bodies in matmul-inl.h).
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
      return MatMulRows(x, m, MakeQ8Rows(w), n, k, bias, y, pool);
    case WeightFormat::kQ4:
      return MatMulRows(x, m, MakeQ4Rows(w), n, k, bias, y, pool);
  }
}

}  // namespace qwenvl::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <string>
#include <vector>

#include "kernels/matmul_bf16.h"
#include "kernels/matmul_int8.h"
#include "kernels/quant_vnni.h"

namespace qwenvl::kernels {

HWY_EXPORT(MatMulTarget);

void MatMul(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
            ThreadPool& pool, MatMulKernel kernel) {
  QWENVL_CHECK(m >= 0 && w.rows >= 0 && w.cols >= 0);
  QWENVL_CHECK(MatMulKernelRuns(kernel) && MatMulKernelTakes(kernel, w.type));
  if (m == 0 || w.rows == 0) return;
  const bool gemm = m >= kMatMulGemmRows;
  switch (kernel) {
    case MatMulKernel::kF32:
      return HWY_DYNAMIC_DISPATCH(MatMulTarget)(x, m, w, bias, y, pool);
    case MatMulKernel::kInt8:
      if (gemm) return GemmInt8(x, m, w, bias, y, pool);
      return MatMulQuantVnni(x, m, w, bias, y, pool);
    case MatMulKernel::kBf16Dot:
    case MatMulKernel::kAmxBf16:
      if (gemm) {
        if (kernel == MatMulKernel::kAmxBf16) return MatMulAmxBf16(x, m, w, bias, y, pool);
        return MatMulBf16Dot(x, m, w, bias, y, pool);
      }
      if (w.type == WeightFormat::kBF16) return GemvBf16Dot(x, m, w, bias, y, pool);
      {
        // Other weight types keep the float32 GEMV on x rounded like the GEMM rounds it.
        thread_local std::vector<float> rounded;
        rounded.resize(m * w.cols);
        RoundThroughBf16(x, m * w.cols, rounded.data());
        return HWY_DYNAMIC_DISPATCH(MatMulTarget)(rounded.data(), m, w, bias, y, pool);
      }
  }
}

void MatMulMany(const float* x, int64_t m, std::span<const MatMulProduct> products,
                ThreadPool& pool, MatMulKernel kernel) {
  QWENVL_CHECK(std::ssize(products) <= kMaxMatMulProducts);
  bool shared = kernel == MatMulKernel::kInt8 && m > 0 && m < kMatMulGemmRows && !products.empty();
  for (const MatMulProduct& p : products) {
    QWENVL_CHECK(p.w != nullptr && MatMulKernelRuns(kernel) &&
                 MatMulKernelTakes(kernel, p.w->type));
    shared = shared && p.w->type == products.front().w->type &&
             p.w->cols == products.front().w->cols && p.w->rows > 0;
  }
  if (shared) return MatMulQuantVnniMany(x, m, products, pool);
  for (const MatMulProduct& p : products) MatMul(x, m, *p.w, p.bias, p.y, pool, kernel);
}

}  // namespace qwenvl::kernels
#endif  // HWY_ONCE
