// Scalar reference versions of the kernels in ops.h: plain loops that define what each kernel
// means. Tests compare the fast kernels against these; they are never used on the hot path.
// Sums are accumulated in double so that the reference is more exact than the kernels.
#pragma once

#include <cstdint>

#include "kernels/dtype.h"
#include "kernels/ops.h"

namespace qwenvl::kernels {

// Element (row, col) of w as float32, for every weight type.
float WeightAtRef(const WeightView& w, int64_t row, int64_t col);

void MatMulRef(const float* x, int64_t m, const WeightView& w, const float* bias, float* y);
void RmsNormRef(const float* x, const float* weight, int64_t rows, int64_t dim, float eps,
                float* y);
void SiluMulRef(float* gate, const float* up, int64_t n);
void GeluErfRef(float* x, int64_t n);
void ApplyRotaryHalfRef(const RotaryArgs& args);
void AttentionRef(const AttentionArgs& args);

}  // namespace qwenvl::kernels
