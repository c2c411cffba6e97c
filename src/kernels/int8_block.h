// Rounding of activations to int8 per block of kQuantBlock, shared by the int8 GEMV and GEMM so
// that a row gets the same integers whichever computes it (internal to kernels/).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace qwenvl::kernels {

struct Int8Block {
  float scale = 0.0f;  // max|x| / 127 (0 for an all-zero block)
  int32_t sum = 0;     // Σ q
};

// The largest |x| of a block below which it is rounded to zeros: 127 / amax would overflow.
inline constexpr float kInt8BlockMinAmax = 127.0f / std::numeric_limits<float>::max() * 2;

// q[t] = round(x[t] / scale) for t < n (half to even), symmetric: q ∈ [−127, 127].
inline Int8Block QuantizeInt8Block(const float* x, int64_t n, int8_t* q) {
  float amax = 0.0f;
  for (int64_t t = 0; t < n; ++t) amax = std::max(amax, std::fabs(x[t]));
  if (!(amax >= kInt8BlockMinAmax)) amax = 0.0f;
  const float inv = amax > 0 ? 127.0f / amax : 0.0f;
  Int8Block b{amax / 127.0f, 0};
  for (int64_t t = 0; t < n; ++t) {
    q[t] = static_cast<int8_t>(std::nearbyint(x[t] * inv));
    b.sum += q[t];
  }
  return b;
}

#if defined(__x86_64__)
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge source, which its
// -Wmaybe-uninitialized then reports at every inlined use: a known false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// QuantizeInt8Block for n ≤ 32 with AVX-512, bit for bit: the same float product x·(127/amax),
// rounded half to even by the conversion (the default rounding mode, as nearbyint), and max|x|
// is exact in any order. q[t] for n ≤ t < 32 is written 0. The int8 kernels quantize every
// activation row per call (a decode step quantizes each layer's input several times), so the
// scalar loop above was a measurable part of a decode step and of packing x for the GEMM.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) inline Int8Block QuantizeInt8Block32(
    const float* x, int64_t n, int8_t* q) {
  const uint32_t bits = n >= 32 ? 0xffffffffu : (1u << n) - 1;
  const __mmask16 m0 = static_cast<__mmask16>(bits), m1 = static_cast<__mmask16>(bits >> 16);
  const __m512 x0 = _mm512_maskz_loadu_ps(m0, x), x1 = _mm512_maskz_loadu_ps(m1, x + 16);
  float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
  if (!(amax >= kInt8BlockMinAmax)) amax = 0.0f;
  const __m512 inv = _mm512_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
  const __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, inv));
  const __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, inv));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtsepi32_epi8(i0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtsepi32_epi8(i1));
  return Int8Block{amax / 127.0f, _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1))};
}
#pragma GCC diagnostic pop
#endif

}  // namespace qwenvl::kernels
