// KV-cache rows in their stored types (ops.h: StoreKvRows, LoadKvValues). Scalar: a decode step
// writes one row per layer, a prefill chunk a few hundred; the attention kernels have their own
// vector loads of the same layouts.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ops.h"
#include "util/bf16.h"
#include "util/error.h"

namespace qwenvl::kernels {

void StoreKvRows(const float* src, int64_t src_stride, int64_t rows, KvType type,
                 int64_t num_kv_heads, int64_t head_dim, float* dst, int64_t dst_stride) {
  const int64_t n = num_kv_heads * head_dim;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = src + r * src_stride;
    float* out = dst + r * dst_stride;
    switch (type) {
      case KvType::kF32:
        std::memmove(out, x, static_cast<size_t>(n) * sizeof(float));
        break;
      case KvType::kBf16: {
        auto* o = reinterpret_cast<uint16_t*>(out);
        for (int64_t c = 0; c < n; ++c) o[c] = F32ToBf16(x[c]);
        break;
      }
      case KvType::kQ8: {
        const int64_t block = KvQuantBlock(head_dim);
        auto* q = reinterpret_cast<int8_t*>(out);
        for (int64_t b0 = 0; b0 < n; b0 += block) {
          float max = 0;
          for (int64_t c = b0; c < b0 + block; ++c) max = std::max(max, std::fabs(x[c]));
          const float scale = max / 127.0f;
          const float inv = scale > 0 ? 1.0f / scale : 0.0f;
          for (int64_t c = b0; c < b0 + block; ++c) {
            const float t = std::nearbyint(x[c] * inv);
            q[c] = static_cast<int8_t>(std::clamp(t, -127.0f, 127.0f));
          }
          std::memcpy(q + n + 4 * (b0 / block), &scale, sizeof scale);  // maybe unaligned
        }
        break;
      }
    }
  }
}

void LoadKvValues(const float* row, KvType type, int64_t num_kv_heads, int64_t head_dim,
                  int64_t col0, int64_t n, float* dst) {
  QWENVL_CHECK(col0 >= 0 && n >= 0 && col0 + n <= num_kv_heads * head_dim);
  switch (type) {
    case KvType::kF32:
      std::memcpy(dst, row + col0, static_cast<size_t>(n) * sizeof(float));
      return;
    case KvType::kBf16: {
      const auto* b = reinterpret_cast<const uint16_t*>(row);
      for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToF32(b[col0 + i]);
      return;
    }
    case KvType::kQ8: {
      const int64_t block = KvQuantBlock(head_dim);
      const auto* q = reinterpret_cast<const int8_t*>(row);
      const int8_t* scales = q + num_kv_heads * head_dim;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t c = col0 + i;
        float scale;
        std::memcpy(&scale, scales + 4 * (c / block), sizeof scale);
        dst[i] = scale * static_cast<float>(q[c]);
      }
      return;
    }
  }
}

}  // namespace qwenvl::kernels
