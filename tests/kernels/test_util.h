// Helpers shared by the kernel tests: seeded random data and stored-type weight matrices.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/dtype.h"
#include "util/bf16.h"

namespace qwenvl::kernels::test {

inline std::vector<float> RandomFloats(int64_t n, uint32_t seed, float lo = -1.0f,
                                       float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

// float32 -> float16, round to nearest even (subnormals included, overflow to infinity).
inline uint16_t F32ToF16Test(float f) {
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

// Runs fn once per SIMD target compiled in and supported here (the scalar fallback included),
// with dispatch forced to that target.
inline void ForEachTarget(const std::function<void()>& fn) {
  for (int64_t target : AvailableTargets()) {
    SCOPED_TRACE(TargetName(target));
    ForceTarget(target);
    fn();
  }
  ForceTarget(0);
}

// A weight matrix stored as `type`, built from float values (rounded to the type).
struct StoredMatrix {
  std::vector<uint8_t> bytes;
  WeightView view;
};

inline StoredMatrix MakeStored(const std::vector<float>& values, WeightFormat type, int64_t rows,
                               int64_t cols) {
  StoredMatrix s;
  const int64_t n = rows * cols;
  if (type == WeightFormat::kF32) {
    s.bytes.resize(n * 4);
    std::memcpy(s.bytes.data(), values.data(), n * 4);
  } else {
    s.bytes.resize(n * 2);
    uint16_t* h = reinterpret_cast<uint16_t*>(s.bytes.data());
    for (int64_t i = 0; i < n; ++i) {
      h[i] = type == WeightFormat::kBF16 ? F32ToBf16(values[i]) : F32ToF16Test(values[i]);
    }
  }
  s.view = WeightView{s.bytes.data(), type, rows, cols};
  return s;
}

}  // namespace qwenvl::kernels::test
