// Decode-path MatMul for kQ8 and kQ4 weights with AVX-512 VNNI int8 dot products (internal to
// kernels/).
// The activation rows are quantized to int8 per block of kQuantBlock (symmetric, scale max|x|/127),
// so results differ from the float path by that rounding (bounded in quantize_test.cc).
#pragma once

#include <cstdint>
#include <span>

#include "kernels/dtype.h"
#include "kernels/matmul_kernel.h"
#include "util/thread_pool.h"

namespace qwenvl::kernels {

// y[m, n] = x[m, k] · wᵀ (+ bias) for w.type kQ8 or kQ4, m ≤ 16 (decode). Requires
// MatMulKernelRuns(MatMulKernel::kInt8).
void MatMulQuantVnni(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
                     ThreadPool& pool);

// Several products of the same x (q, k, v; gate, up): x is quantized once and the weight rows of
// all of them are shared out over the pool in one job, so the short ones (k and v) neither wake
// the pool by themselves nor leave a thread waiting for the other at their end. Every weight has
// x's k columns and the same type; each y holds exactly what MatMulQuantVnni writes. At most
// kMaxMatMulProducts.
void MatMulQuantVnniMany(const float* x, int64_t m, std::span<const MatMulProduct> products,
                         ThreadPool& pool);

}  // namespace qwenvl::kernels
