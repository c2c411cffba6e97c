// The int8 GEMM behind MatMulKernel::kInt8 (internal to kernels/; callers check
// MatMulKernelRuns first). The GEMV for fewer rows is MatMulQuantVnni (quant_vnni.h).
#pragma once

#include <cstdint>

#include "kernels/dtype.h"
#include "util/thread_pool.h"

namespace qwenvl::kernels {

// y[m, n] = x · wᵀ (+ bias) for kQ8 / kQ4 weights, any m (meant for m >= kMatMulGemmRows).
void GemmInt8(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
              ThreadPool& pool);

}  // namespace qwenvl::kernels
