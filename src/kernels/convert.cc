// Stored-type to float32 conversion of single rows (embedding lookups, bias and norm loading).
#include <cstring>

#include "kernels/ops.h"
#include "util/bf16.h"
#include "util/error.h"

namespace qwenvl::kernels {

void ConvertRow(const void* src, WeightType type, int64_t n, float* dst) {
  switch (type) {
    case WeightType::kF32:
      std::memcpy(dst, src, n * sizeof(float));
      return;
    case WeightType::kBF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToF32(s[i]);
      return;
    }
    case WeightType::kF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = F16ToF32(s[i]);
      return;
    }
    default:
      throw Error(ErrorCode::kUnsupported, std::string("ConvertRow: weight type ") +
                                               WeightTypeName(type) +
                                               " has no plain row layout; use ConvertWeightRow");
  }
}

void ConvertWeightRow(const WeightView& w, int64_t row, float* dst) {
  QWENVL_CHECK(row >= 0 && row < w.rows);
  const size_t elem = w.type == WeightType::kF32 ? 4 : 2;
  ConvertRow(static_cast<const char*>(w.data) + row * w.cols * elem, w.type, w.cols, dst);
}

}  // namespace qwenvl::kernels
