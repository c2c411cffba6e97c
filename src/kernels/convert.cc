// Conversion of single rows, or ranges of them, to float32 (embedding lookups, bias and norm
// loading, the packing steps of the GEMMs that do not read the stored type directly), every type.
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

void ConvertWeightRangeTarget(const WeightView& w, int64_t row, int64_t col0, int64_t n,
                              float* dst) {
  switch (w.type) {
    case WeightFormat::kF32:
      return ConvertRangeT(StoredRows<float>{static_cast<const float*>(w.data), w.cols}.Row(row),
                           col0, n, dst);
    case WeightFormat::kBF16:
      return ConvertRangeT(
          StoredRows<hwy::bfloat16_t>{static_cast<const hwy::bfloat16_t*>(w.data), w.cols}.Row(row),
          col0, n, dst);
    case WeightFormat::kF16:
      return ConvertRangeT(
          StoredRows<hwy::float16_t>{static_cast<const hwy::float16_t*>(w.data), w.cols}.Row(row),
          col0, n, dst);
    case WeightFormat::kQ8:
      return ConvertRangeT(MakeQ8Rows(w).Row(row), col0, n, dst);
    case WeightFormat::kQ4:
      return ConvertRangeT(MakeQ4Rows(w).Row(row), col0, n, dst);
  }
}

}  // namespace qwenvl::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qwenvl::kernels {

HWY_EXPORT(ConvertRowTarget);
HWY_EXPORT(ConvertWeightRowTarget);
HWY_EXPORT(ConvertWeightRangeTarget);

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

void ConvertWeightRange(const WeightView& w, int64_t row, int64_t col0, int64_t n, float* dst) {
  QWENVL_CHECK(row >= 0 && row < w.rows && col0 >= 0 && col0 % 64 == 0 && n >= 0 &&
               col0 + n <= w.cols);
  HWY_DYNAMIC_DISPATCH(ConvertWeightRangeTarget)(w, row, col0, n, dst);
}

}  // namespace qwenvl::kernels
#endif  // HWY_ONCE
