// Weight formats: the element types a checkpoint stores its matrices in, the block-quantized
// layouts the engine makes of them at load, and the choice a user makes of what to load a model
// part as. Each is described once, in a traits table (src/util/weight_format.cc) that every size
// computation, name and command-line parse reads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qwenvl {

// The element format of a weight matrix [rows, cols] (PyTorch layout [out_features, in_features]).
// kF32/kBF16/kF16 are stored types, read where the checkpoint holds them; kQ8/kQ4 are made at load
// time: each row cut into blocks of kWeightQuantBlock columns with one float16 scale per block
// (layouts in src/kernels/dtype.h).
enum class WeightFormat : uint8_t { kF32, kBF16, kF16, kQ8, kQ4 };

inline constexpr int64_t kWeightQuantBlock = 32;

struct WeightFormatTraits {
  WeightFormat format;
  const char* name;     // "f32", "bf16", "f16", "q8", "q4"
  bool quantized;       // made at load, in blocks with one float16 scale each
  int64_t block_cols;   // columns per block: 1 for the stored formats
  int64_t block_bytes;  // bytes of one block's values, its scale not included
};

const WeightFormatTraits& TraitsOf(WeightFormat format);
const char* WeightFormatName(WeightFormat format);
// Bytes one row of `cols` columns takes in `format`, the quantized formats' scales included.
int64_t WeightRowBytes(WeightFormat format, int64_t cols);

// What a model part's big matrices are loaded as: the checkpoint's own format, or quantized.
enum class WeightPrecision : uint8_t { kStored, kQ8, kQ4 };

struct WeightPrecisionTraits {
  WeightPrecision precision;
  const char* name;                         // "stored", "q8", "q4": logs, JSON, help texts
  const char* alias;                        // another name a command line accepts, or nullptr
  std::optional<WeightFormat> quantize_to;  // nullopt: kept as stored
};

const WeightPrecisionTraits& TraitsOf(WeightPrecision precision);
const char* WeightPrecisionName(WeightPrecision precision);
// A precision from its name or alias ("bf16" means as stored: the published checkpoints hold bf16).
// Throws Error(kInvalidArgument) naming the accepted names.
WeightPrecision ParseWeightPrecision(std::string_view name);
// The accepted names, for help texts: "bf16 (as stored), q8, q4".
std::string WeightPrecisionChoices();

}  // namespace qwenvl
