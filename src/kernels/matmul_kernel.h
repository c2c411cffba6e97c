// The ways MatMul can compute (plain types only; the choice per CPU is made by measurement in
// compute/kernel_choice.h). Every kernel computes y = x·wᵀ (+ bias) for any m, summing each
// element in an order that depends neither on the thread count nor on the other rows of x; they
// differ in what they round before multiplying and in the instructions they use.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "kernels/dtype.h"

namespace qwenvl::kernels {

enum class MatMulKernel : uint8_t {
  kF32,      // float32 FMAs on weights converted to float32: nothing rounded. Any SIMD target.
  kInt8,     // AVX-512 VNNI int8 dot products; x rounded to int8 per block of 32 (scale
             // max|x|/127). kQ8 and kQ4 weights only.
  kBf16Dot,  // AVX-512 BF16 dot products (vdpbf16ps); x, and weights not stored as bf16, rounded
             // to bf16 (nearest even), products summed in float32.
  kAmxBf16,  // AMX bf16 tiles (tdpbf16ps) from 8 rows of x on, kBf16Dot below: the same
             // rounding as kBf16Dot.
};

inline constexpr MatMulKernel kAllMatMulKernels[] = {
    MatMulKernel::kF32, MatMulKernel::kInt8, MatMulKernel::kBf16Dot, MatMulKernel::kAmxBf16};

// From this many rows of x on, MatMul computes as a GEMM (compute bound: prefill, vision);
// below, as a GEMV that streams the weights once (memory bound: decode).
inline constexpr int64_t kMatMulGemmRows = 8;

// One of several products of the same x (MatMulMany): y [m, w->rows] = x · wᵀ (+ bias).
struct MatMulProduct {
  const WeightView* w = nullptr;
  const float* bias = nullptr;  // null: none
  float* y = nullptr;
};
inline constexpr int64_t kMaxMatMulProducts = 8;

// "f32", "int8", "bf16-dot", "amx-bf16".
std::string_view MatMulKernelName(MatMulKernel kernel);
std::optional<MatMulKernel> ParseMatMulKernel(std::string_view name);
// True when this CPU (and OS, for AMX) runs the kernel.
bool MatMulKernelRuns(MatMulKernel kernel);
// True when the kernel computes with weights of this type (kInt8: kQ8 and kQ4 only).
bool MatMulKernelTakes(MatMulKernel kernel, WeightFormat type);
// True when the kernel rounds x to bf16 (kBf16Dot, kAmxBf16).
bool MatMulKernelRoundsToBf16(MatMulKernel kernel);

}  // namespace qwenvl::kernels
