#include "kernels/ops.h"

namespace qwenvl::kernels {

void ApplyRotaryHalf(const RotaryArgs& a) {
  const int64_t half = a.head_dim / 2;
  for (int64_t r = 0; r < a.rows; ++r) {
    const float* c = a.cos + r * a.head_dim;
    const float* s = a.sin + r * a.head_dim;
    for (int64_t h = 0; h < a.num_heads; ++h) {
      float* v = a.x + r * a.row_stride + h * a.head_dim;
      for (int64_t j = 0; j < half; ++j) {
        const float lo = v[j], hi = v[j + half];
        v[j] = lo * c[j] - hi * s[j];
        v[j + half] = hi * c[j + half] + lo * s[j + half];
      }
    }
  }
}

}  // namespace qwenvl::kernels
