// Quantize: load-time conversion of a stored weight matrix to the kQ8 / kQ4 block layouts
// documented in dtype.h. Blocks are independent; rows are split over threads.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "util/bf16.h"
#include "util/error.h"

namespace qwenvl::kernels {
namespace {

// Symmetric scale so that max|w| maps to max_q, as stored: float16, rounded up (so that no value
// rounds past max_q); 0 for an all-zero block.
uint16_t BlockScale(const float* w, int64_t n, float max_q) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(w[i]));
  return F32ToF16Up(amax / max_q);
}

int RoundClamp(float v, int limit) {
  const float r = std::nearbyint(v);  // round half to even
  return static_cast<int>(std::clamp(r, static_cast<float>(-limit), static_cast<float>(limit)));
}

void QuantizeRowQ8(const float* w, int64_t cols, uint8_t* q, uint16_t* scales) {
  for (int64_t b = 0; b * kQuantBlock < cols; ++b) {
    const int64_t n = std::min(kQuantBlock, cols - b * kQuantBlock);
    const float* wb = w + b * kQuantBlock;
    scales[b] = BlockScale(wb, n, 127.0f);
    const float scale = F16ToF32(scales[b]);
    const float inv = scale > 0 ? 1.0f / scale : 0.0f;
    for (int64_t i = 0; i < kQuantBlock; ++i) {
      q[b * kQuantBlock + i] =
          static_cast<uint8_t>(128 + (i < n ? RoundClamp(wb[i] * inv, 127) : 0));
    }
  }
}

void QuantizeRowQ4(const float* w, int64_t cols, uint8_t* q, uint16_t* scales) {
  const int64_t half = kQuantBlock / 2;
  for (int64_t b = 0; b * kQuantBlock < cols; ++b) {
    const int64_t n = std::min(kQuantBlock, cols - b * kQuantBlock);
    const float* wb = w + b * kQuantBlock;
    scales[b] = BlockScale(wb, n, 7.0f);
    const float scale = F16ToF32(scales[b]);
    const float inv = scale > 0 ? 1.0f / scale : 0.0f;
    for (int64_t i = 0; i < half; ++i) {
      const int lo = i < n ? RoundClamp(wb[i] * inv, 7) : 0;
      const int hi = i + half < n ? RoundClamp(wb[i + half] * inv, 7) : 0;
      q[b * half + i] = static_cast<uint8_t>((lo + 8) | ((hi + 8) << 4));
    }
  }
}

}  // namespace

QuantizedMatrix Quantize(const WeightView& w, WeightFormat to, ThreadPool& pool) {
  if (!IsQuantized(to) || IsQuantized(w.type)) {
    throw Error(ErrorCode::kUnsupported,
                std::string("Quantize: cannot quantize ") + WeightFormatName(w.type) +
                    " weights to " + WeightFormatName(to) + " (expected f32/bf16/f16 to q8/q4)");
  }
  QuantizedMatrix out(to, w.rows, w.cols);
  const QuantLayout l = QuantLayoutOf(to, w.rows, w.cols);
  uint8_t* base = out.data();
  uint16_t* scales = reinterpret_cast<uint16_t*>(base + l.scales_offset);
  pool.Run(w.rows, [&](int64_t r, int) {
    thread_local std::vector<float> row;
    row.resize(w.cols);
    ConvertWeightRow(w, r, row.data());
    if (to == WeightFormat::kQ8) {
      QuantizeRowQ8(row.data(), w.cols, base + r * l.row_bytes, scales + r * l.blocks);
    } else {
      QuantizeRowQ4(row.data(), w.cols, base + r * l.row_bytes, scales + r * l.blocks);
    }
  });
  return out;
}

}  // namespace qwenvl::kernels
