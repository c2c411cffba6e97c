#include <cmath>

#include "kernels/ops.h"

namespace qwenvl::kernels {

void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps, float* y,
             ThreadPool& pool) {
  pool.Run(rows, [&](int64_t r, int) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    float ss = 0;
    for (int64_t i = 0; i < dim; ++i) ss += xr[i] * xr[i];
    const float inv = 1.0f / std::sqrt(ss / dim + eps);
    for (int64_t i = 0; i < dim; ++i) yr[i] = xr[i] * inv * weight[i];
  });
}

}  // namespace qwenvl::kernels
