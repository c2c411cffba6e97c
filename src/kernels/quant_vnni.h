// Decode-path MatMul for kQ8 and kQ4 weights with AVX-512 VNNI int8 dot products (internal to
// kernels/).
// The activation rows are quantized to int8 per block of kQuantBlock (symmetric, scale max|x|/127),
// so results differ from the float path by that rounding (bounded in quantize_test.cc).
#pragma once

#include <cstdint>

#include "kernels/dtype.h"
#include "util/thread_pool.h"

namespace qwenvl::kernels {

// y[m, n] = x[m, k] · wᵀ (+ bias) for w.type kQ8 or kQ4, m ≤ 16 (decode). Requires
// MatMulKernelRuns(MatMulKernel::kInt8).
void MatMulQuantVnni(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
                     ThreadPool& pool);

}  // namespace qwenvl::kernels
