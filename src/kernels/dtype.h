// Weight matrices as the kernels see them (formats: qwenvl/weight_format.h) and the byte layouts of
// the quantized formats. Stored formats come straight from the safetensors mapping; quantized ones
// are produced at load time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "qwenvl/weight_format.h"
#include "util/pages.h"

namespace qwenvl::kernels {

// A weight matrix [rows, cols] (PyTorch layout [out_features, in_features]), row-major, read-only.
// data points into the mapped file or into a quantized copy owned elsewhere.
struct WeightView {
  const void* data = nullptr;
  WeightFormat type = WeightFormat::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
};

// Quantized layouts. Each row is cut into blocks of kQuantBlock consecutive columns (the last block
// zero-padded), each with one IEEE float16 scale (2 bytes: q8 reads 34 bytes per 32 weights, q4
// 18). The matrix is one buffer:
//   [rows][row_bytes] quantized values, then [rows][blocks] float16 scales (at scales_offset).
// kQ8: row_bytes = blocks·32; byte i of a block is u_i = q_i + 128 with q_i ∈ [−127, 127];
//      value = scale·q_i, scale = max|w| / 127 over the block rounded up to float16 (symmetric).
//      The +128 offset makes the bytes unsigned, as AVX-512 VNNI's u8×s8 dot product wants them.
// kQ4: row_bytes = blocks·16; byte i of a block holds element i in its low nibble and element
//      i + 16 in its high nibble, each u ∈ [1, 15]; value = scale·(u − 8), scale = max|w| / 7
//      rounded up to float16.
constexpr int64_t kQuantBlock = kWeightQuantBlock;
// Version of the quantized layouts above and of the rounding that fills them. Quantized copies are
// cached on disk under this number (compute/weight_cache.h): bump it whenever a layout, a block
// size, a scale encoding or the quantization's rounding changes, so old cache files are rebuilt.
constexpr uint32_t kQuantLayoutVersion = 1;
constexpr int64_t kQuantScaleBytes = 2;  // one float16 per block

struct QuantLayout {
  int64_t blocks = 0;         // blocks per row
  int64_t row_bytes = 0;      // bytes of quantized values per row
  int64_t scales_offset = 0;  // byte offset of the scales (rows · row_bytes)
  int64_t total_bytes = 0;
};

inline QuantLayout QuantLayoutOf(WeightFormat type, int64_t rows, int64_t cols) {
  const WeightFormatTraits& t = TraitsOf(type);
  QuantLayout l;
  l.blocks = (cols + kQuantBlock - 1) / kQuantBlock;
  l.row_bytes = l.blocks * t.block_bytes;
  l.scales_offset = rows * l.row_bytes;
  l.total_bytes = rows * WeightRowBytes(type, cols);
  return l;
}

inline bool IsQuantized(WeightFormat t) { return TraitsOf(t).quantized; }

// An owning quantized copy of a weight matrix (see Quantize in ops.h). view() points into the
// owned buffer: it stays valid while this object (or one it was moved into) lives. The buffer is
// whole pages with huge pages asked for (AllocatePages): decode streams it once per token, and
// on 4 KiB pages the int8 GEMV's row prefetches waited on TLB misses (on an AMD Zen 5 VM the
// lm_head product read about 20 % faster from huge pages).
class QuantizedMatrix {
 public:
  QuantizedMatrix() = default;
  QuantizedMatrix(WeightFormat type, int64_t rows, int64_t cols)
      : type_(type), rows_(rows), cols_(cols) {
    bytes_ = static_cast<size_t>(QuantLayoutOf(type, rows, cols).total_bytes);
    storage_ = AllocatePages(bytes_);
  }
  QuantizedMatrix(QuantizedMatrix&&) = default;
  QuantizedMatrix& operator=(QuantizedMatrix&&) = default;
  QuantizedMatrix(const QuantizedMatrix&) = delete;  // one owner of the bytes it hands out
  QuantizedMatrix& operator=(const QuantizedMatrix&) = delete;
  WeightView view() const { return WeightView{storage_.get(), type_, rows_, cols_}; }
  uint8_t* data() { return static_cast<uint8_t*>(storage_.get()); }
  size_t bytes() const { return bytes_; }

 private:
  std::shared_ptr<void> storage_;
  size_t bytes_ = 0;
  WeightFormat type_ = WeightFormat::kQ8;
  int64_t rows_ = 0, cols_ = 0;
};

}  // namespace qwenvl::kernels
