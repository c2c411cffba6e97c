// Per-target helpers that read stored weight types (f32, bf16, f16) as float32 vectors.
// Included by the kernels' -inl.h files inside their per-target namespace pass.

#if defined(QWENVL_KERNELS_WEIGHTS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef QWENVL_KERNELS_WEIGHTS_INL_H_
#undef QWENVL_KERNELS_WEIGHTS_INL_H_
#else
#define QWENVL_KERNELS_WEIGHTS_INL_H_
#endif

#include <cstdint>

#include "hwy/highway.h"
#include "util/bf16.h"

HWY_BEFORE_NAMESPACE();
namespace qwenvl::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Loads Lanes(df) consecutive weights starting at p, converted to float32.
template <class DF>
HWY_INLINE hn::Vec<DF> LoadWeights(DF df, const float* HWY_RESTRICT p) {
  return hn::LoadU(df, p);
}

// bf16 is the upper half of a float32: widen to 32 bits and shift left.
template <class DF>
HWY_INLINE hn::Vec<DF> LoadWeights(DF df, const hwy::bfloat16_t* HWY_RESTRICT p) {
  const hn::Rebind<uint16_t, DF> du16;
  const hn::RebindToUnsigned<DF> du32;
  const auto bits = hn::LoadU(du16, reinterpret_cast<const uint16_t*>(p));
  return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du32, bits)));
}

template <class DF>
HWY_INLINE hn::Vec<DF> LoadWeights(DF df, const hwy::float16_t* HWY_RESTRICT p) {
#if HWY_TARGET == HWY_SCALAR || HWY_TARGET == HWY_EMU128
  // Highway's emulated f16 conversion maps infinities to 65536; convert exactly instead.
  HWY_ALIGN float lanes[HWY_MAX_BYTES / sizeof(float)];
  const uint16_t* bits = reinterpret_cast<const uint16_t*>(p);
  for (size_t i = 0; i < hn::Lanes(df); ++i) lanes[i] = F16ToF32(bits[i]);
  return hn::Load(df, lanes);
#else
  const hn::Rebind<hwy::float16_t, DF> dh;
  return hn::PromoteTo(df, hn::LoadU(dh, p));
#endif
}

HWY_INLINE float WeightToF32(float v) { return v; }
HWY_INLINE float WeightToF32(hwy::bfloat16_t v) { return Bf16ToF32(v.bits); }
HWY_INLINE float WeightToF32(hwy::float16_t v) {
  uint16_t bits;
  __builtin_memcpy(&bits, &v, 2);
  return F16ToF32(bits);
}

// dst[i] = float(src[i]) for i < n.
template <typename T>
HWY_INLINE void ConvertRowT(const T* HWY_RESTRICT src, int64_t n, float* HWY_RESTRICT dst) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(LoadWeights(df, src + i), df, dst + i);
  for (; i < n; ++i) dst[i] = WeightToF32(src[i]);
}

}  // namespace qwenvl::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // QWENVL_KERNELS_WEIGHTS_INL_H_
