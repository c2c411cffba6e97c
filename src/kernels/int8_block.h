// Rounding of activations to int8 per block of kQuantBlock, shared by the int8 GEMV and GEMM so
// that a row gets the same integers whichever computes it (internal to kernels/).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace qwenvl::kernels {

struct Int8Block {
  float scale = 0.0f;  // max|x| / 127 (0 for an all-zero block)
  int32_t sum = 0;     // Σ q
};

// q[t] = round(x[t] / scale) for t < n (half to even), symmetric: q ∈ [−127, 127].
inline Int8Block QuantizeInt8Block(const float* x, int64_t n, int8_t* q) {
  float amax = 0.0f;
  for (int64_t t = 0; t < n; ++t) amax = std::max(amax, std::fabs(x[t]));
  const float inv = amax > 0 ? 127.0f / amax : 0.0f;
  Int8Block b{amax / 127.0f, 0};
  for (int64_t t = 0; t < n; ++t) {
    q[t] = static_cast<int8_t>(std::nearbyint(x[t] * inv));
    b.sum += q[t];
  }
  return b;
}

}  // namespace qwenvl::kernels
