// bfloat16 and float16 <-> float32 conversions (scalar; kernels have vector versions).
#pragma once

#include <cstdint>
#include <cstring>

namespace qwenvl {

inline float Bf16ToF32(uint16_t bits) {
  uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round to nearest even on the upper 16 bits (as torch and the fixture generator do). NaN stays
// NaN.
inline uint16_t F32ToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float F16ToF32(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      u = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (mant << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// float32 -> float16, round to nearest even (subnormals included, overflow to infinity).
inline uint16_t F32ToF16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t sign = (u >> 16) & 0x8000u;
  u &= 0x7fffffffu;
  if (u > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);
  if (u >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (u < 0x38800000u) {  // result is subnormal: let the FPU round at 2^-24 granularity
    float a;
    std::memcpy(&a, &u, 4);
    a += 0.5f;
    uint32_t r;
    std::memcpy(&r, &a, 4);
    return static_cast<uint16_t>(sign | (r - 0x3f000000u));
  }
  u += 0xc8000000u + 0xfffu + ((u >> 13) & 1u);  // rebias exponent (-112 << 23) and round
  return static_cast<uint16_t>(sign | (u >> 13));
}

// float16 → float32 without branches, exact for every finite float16 (the quantized formats'
// scales are never infinite or NaN): the bits moved into a float's place and the exponent rebiased
// by one multiplication, which also turns subnormal halves into normal floats. Assumes the FPU
// does not treat subnormal inputs as zero (no DAZ: the build uses no fast-math).
inline float F16ToF32Finite(uint16_t h) {
  const uint32_t magnitude = static_cast<uint32_t>(h & 0x7fffu) << 13;
  float f;
  std::memcpy(&f, &magnitude, 4);
  f *= 0x1p112f;
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u |= static_cast<uint32_t>(h & 0x8000u) << 16;
  std::memcpy(&f, &u, 4);
  return f;
}

// The smallest float16 not below f (f >= 0, finite): the q8/q4 block scales, rounded up so that
// max|w| / scale stays within the integer range. Beyond float16's range: its largest finite value.
inline uint16_t F32ToF16Up(float f) {
  uint16_t h = F32ToF16(f);
  if (h >= 0x7c00u) return 0x7bffu;
  if (F16ToF32(h) < f) ++h;
  return h >= 0x7c00u ? uint16_t{0x7bffu} : h;
}

}  // namespace qwenvl
