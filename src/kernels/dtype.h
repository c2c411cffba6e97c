// Element types of weight matrices as the kernels see them. Stored types come straight from the
// safetensors mapping; quantized types are produced at load time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qwenvl::kernels {

enum class WeightType : uint8_t {
  kF32,
  kBF16,
  kF16,
  kQ8,  // 8-bit blocks, produced at load time
  kQ4,  // 4-bit blocks, produced at load time
};

const char* WeightTypeName(WeightType t);

// A weight matrix [rows, cols] (PyTorch layout [out_features, in_features]), row-major, read-only.
// data points into the mapped file or into a quantized copy owned elsewhere.
struct WeightView {
  const void* data = nullptr;
  WeightType type = WeightType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
};

}  // namespace qwenvl::kernels
