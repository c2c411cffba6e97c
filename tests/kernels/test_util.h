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
      h[i] = type == WeightFormat::kBF16 ? F32ToBf16(values[i]) : F32ToF16(values[i]);
    }
  }
  s.view = WeightView{s.bytes.data(), type, rows, cols};
  return s;
}

}  // namespace qwenvl::kernels::test
