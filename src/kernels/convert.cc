// Conversion of single rows to float32 (embedding lookups, bias and norm loading), every type.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/convert.cc"
#include <string>

#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/ops.h"
#include "kernels/weights-inl.h"
#include "util/error.h"

HWY_BEFORE_NAMESPACE();
namespace qwenvl::kernels::HWY_NAMESPACE {

void ConvertRowTarget(const void* src, WeightFormat type, int64_t n, float* dst) {
  switch (type) {
    case WeightFormat::kF32:
      return ConvertRowT(static_cast<const float*>(src), n, dst);
    case WeightFormat::kBF16:
      return ConvertRowT(static_cast<const hwy::bfloat16_t*>(src), n, dst);
    case WeightFormat::kF16:
      return ConvertRowT(static_cast<const hwy::float16_t*>(src), n, dst);
    default:
      break;
  }
}

void ConvertWeightRowTarget(const WeightView& w, int64_t row, float* dst) {
  switch (w.type) {
    case WeightFormat::kQ8:
      return ConvertRowT(MakeQ8Rows(w).Row(row), w.cols, dst);
    case WeightFormat::kQ4:
      return ConvertRowT(MakeQ4Rows(w).Row(row), w.cols, dst);
    default: {
      const char* src = static_cast<const char*>(w.data) + row * WeightRowBytes(w.type, w.cols);
      return ConvertRowTarget(src, w.type, w.cols, dst);
    }
  }
}

}  // namespace qwenvl::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qwenvl::kernels {

HWY_EXPORT(ConvertRowTarget);
HWY_EXPORT(ConvertWeightRowTarget);

void ConvertRow(const void* src, WeightFormat type, int64_t n, float* dst) {
  if (IsQuantized(type)) {
    throw Error(ErrorCode::kUnsupported, std::string("ConvertRow: weight type ") +
                                             WeightFormatName(type) +
                                             " has no plain row layout; use ConvertWeightRow");
  }
  HWY_DYNAMIC_DISPATCH(ConvertRowTarget)(src, type, n, dst);
}

void ConvertWeightRow(const WeightView& w, int64_t row, float* dst) {
  QWENVL_CHECK(row >= 0 && row < w.rows);
  HWY_DYNAMIC_DISPATCH(ConvertWeightRowTarget)(w, row, dst);
}

}  // namespace qwenvl::kernels
#endif  // HWY_ONCE
