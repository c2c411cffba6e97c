// Per-target readers of weight rows as float32 vectors, for every WeightFormat: stored rows (f32,
// bf16, f16) are plain pointers, quantized rows (q8, q4; layouts in dtype.h) carry their scales.
// Included by the kernels' -inl.h files inside their per-target namespace pass.

#if defined(QWENVL_KERNELS_WEIGHTS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef QWENVL_KERNELS_WEIGHTS_INL_H_
#undef QWENVL_KERNELS_WEIGHTS_INL_H_
#else
#define QWENVL_KERNELS_WEIGHTS_INL_H_
#endif

#include <cstdint>

#include "hwy/highway.h"
#include "kernels/dtype.h"
#include "util/bf16.h"

HWY_BEFORE_NAMESPACE();
namespace qwenvl::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ---- stored types: a row is a pointer to its first element -------------------------------------

template <class DF>
HWY_INLINE hn::Vec<DF> LoadRow(DF df, const float* HWY_RESTRICT row, int64_t p) {
  return hn::LoadU(df, row + p);
}

// bf16 is the upper half of a float32: widen to 32 bits and shift left.
template <class DF>
HWY_INLINE hn::Vec<DF> LoadRow(DF df, const hwy::bfloat16_t* HWY_RESTRICT row, int64_t p) {
  const hn::Rebind<uint16_t, DF> du16;
  const hn::RebindToUnsigned<DF> du32;
  const auto bits = hn::LoadU(du16, reinterpret_cast<const uint16_t*>(row + p));
  return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du32, bits)));
}

template <class DF>
HWY_INLINE hn::Vec<DF> LoadRow(DF df, const hwy::float16_t* HWY_RESTRICT row, int64_t p) {
#if HWY_TARGET == HWY_SCALAR || HWY_TARGET == HWY_EMU128
  // Highway's emulated f16 conversion maps infinities to 65536; convert exactly instead.
  HWY_ALIGN float lanes[HWY_MAX_BYTES / sizeof(float)];
  const uint16_t* bits = reinterpret_cast<const uint16_t*>(row + p);
  for (size_t i = 0; i < hn::Lanes(df); ++i) lanes[i] = F16ToF32(bits[i]);
  return hn::Load(df, lanes);
#else
  const hn::Rebind<hwy::float16_t, DF> dh;
  return hn::PromoteTo(df, hn::LoadU(dh, row + p));
#endif
}

HWY_INLINE float ElementAt(const float* row, int64_t p) { return row[p]; }
HWY_INLINE float ElementAt(const hwy::bfloat16_t* row, int64_t p) { return Bf16ToF32(row[p].bits); }
HWY_INLINE float ElementAt(const hwy::float16_t* row, int64_t p) {
  uint16_t bits;
  __builtin_memcpy(&bits, row + p, 2);
  return F16ToF32(bits);
}

// ---- quantized types ---------------------------------------------------------------------------

struct Q8Row {
  const uint8_t* q;        // [blocks · kQuantBlock], offset by +128
  const uint16_t* scales;  // [blocks], float16
};
struct Q4Row {
  const uint8_t* q;        // [blocks · kQuantBlock / 2]
  const uint16_t* scales;  // [blocks], float16
};

// p is a multiple of Lanes(df), and Lanes(df) divides kQuantBlock: a vector never straddles blocks.
template <class DF>
HWY_INLINE hn::Vec<DF> LoadRow(DF df, const Q8Row& row, int64_t p) {
  const hn::Rebind<uint8_t, DF> du8;
  const hn::RebindToSigned<DF> di32;
  const auto u =
      hn::BitCast(di32, hn::PromoteTo(hn::RebindToUnsigned<DF>(), hn::LoadU(du8, row.q + p)));
  const auto q = hn::Sub(u, hn::Set(di32, 128));
  return hn::Mul(hn::ConvertTo(df, q), hn::Set(df, F16ToF32Finite(row.scales[p / kQuantBlock])));
}

// Byte b of a q4 block holds element b (low nibble) and element b + 16 (high nibble).
template <class DF>
HWY_INLINE hn::Vec<DF> LoadRow(DF df, const Q4Row& row, int64_t p) {
  const hn::Rebind<uint8_t, DF> du8;
  const hn::RebindToSigned<DF> di32;
  const int64_t block = p / kQuantBlock, offset = p % kQuantBlock;
  const int64_t half = kQuantBlock / 2;
  const uint8_t* bytes = row.q + block * half + (offset % half);
  auto v = hn::BitCast(di32, hn::PromoteTo(hn::RebindToUnsigned<DF>(), hn::LoadU(du8, bytes)));
  if (offset >= half) v = hn::ShiftRight<4>(v);
  v = hn::Sub(hn::And(v, hn::Set(di32, 15)), hn::Set(di32, 8));
  return hn::Mul(hn::ConvertTo(df, v), hn::Set(df, F16ToF32Finite(row.scales[block])));
}

HWY_INLINE float ElementAt(const Q8Row& row, int64_t p) {
  return F16ToF32Finite(row.scales[p / kQuantBlock]) * static_cast<float>(int{row.q[p]} - 128);
}
HWY_INLINE float ElementAt(const Q4Row& row, int64_t p) {
  const int64_t block = p / kQuantBlock, offset = p % kQuantBlock, half = kQuantBlock / 2;
  const uint8_t byte = row.q[block * half + offset % half];
  const int nibble = offset >= half ? byte >> 4 : byte & 15;
  return F16ToF32Finite(row.scales[block]) * static_cast<float>(nibble - 8);
}

// ---- whole matrices ----------------------------------------------------------------------------

// Row j of a matrix as a row reader of type R.
template <typename T>
struct StoredRows {
  const T* data;
  int64_t cols;
  const T* Row(int64_t j) const { return data + j * cols; }
};

template <typename R, typename Q>
struct QuantRows {
  const Q* q;
  const uint16_t* scales;
  int64_t q_stride, blocks;  // bytes of quantized values and number of blocks per row
  R Row(int64_t j) const { return R{q + j * q_stride, scales + j * blocks}; }
};
using Q8Rows = QuantRows<Q8Row, uint8_t>;
using Q4Rows = QuantRows<Q4Row, uint8_t>;

inline Q8Rows MakeQ8Rows(const WeightView& w) {
  const QuantLayout l = QuantLayoutOf(w.type, w.rows, w.cols);
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  return Q8Rows{base, reinterpret_cast<const uint16_t*>(base + l.scales_offset), l.row_bytes,
                l.blocks};
}
inline Q4Rows MakeQ4Rows(const WeightView& w) {
  const QuantLayout l = QuantLayoutOf(w.type, w.rows, w.cols);
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  return Q4Rows{base, reinterpret_cast<const uint16_t*>(base + l.scales_offset), l.row_bytes,
                l.blocks};
}

// dst[p] = float(row[p]) for p < n.
template <typename R>
HWY_INLINE void ConvertRowT(const R& row, int64_t n, float* HWY_RESTRICT dst) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t p = 0;
  for (; p + lanes <= n; p += lanes) hn::StoreU(LoadRow(df, row, p), df, dst + p);
  for (; p < n; ++p) dst[p] = ElementAt(row, p);
}

// dst[i] = float(row[p0 + i]) for i < n; p0 is a multiple of 64 (whole vectors and blocks).
template <typename R>
HWY_INLINE void ConvertRangeT(const R& row, int64_t p0, int64_t n, float* HWY_RESTRICT dst) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(LoadRow(df, row, p0 + i), df, dst + i);
  for (; i < n; ++i) dst[i] = ElementAt(row, p0 + i);
}

}  // namespace qwenvl::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // QWENVL_KERNELS_WEIGHTS_INL_H_
