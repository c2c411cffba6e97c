// The x86 kernels behind MatMulKernel::kBf16Dot and kAmxBf16 (internal to kernels/; callers check
// MatMulKernelRuns first). Both round x to bf16 (nearest even; inputs below bf16's normal range
// become zero, as the instructions read them) and sum the products in float32.
#pragma once

#include <cstdint>

#include "kernels/dtype.h"
#include "util/thread_pool.h"

namespace qwenvl::kernels {

// y[m, n] = x · wᵀ (+ bias) with vdpbf16ps. Weights stored as bf16 are read in place; other types
// are converted to float32 and rounded to bf16 on the fly (m < kMatMulGemmRows: x is rounded and
// the float32 GEMV runs instead; see MatMul).
void MatMulBf16Dot(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
                   ThreadPool& pool);
// The bf16 GEMV alone: bf16 weights, m < kMatMulGemmRows.
void GemvBf16Dot(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
                 ThreadPool& pool);
// y = x · wᵀ (+ bias) with AMX tiles, m >= kMatMulGemmRows (below, MatMul runs kBf16Dot).
void MatMulAmxBf16(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
                   ThreadPool& pool);
// out[i] = float32(bf16(x[i])): x as the bf16 kernels see it.
void RoundThroughBf16(const float* x, int64_t n, float* out);

}  // namespace qwenvl::kernels
