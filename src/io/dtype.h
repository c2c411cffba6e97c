// The element types the safetensors format defines, with their sizes and names.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "qwenvl/weight_format.h"

namespace qwenvl::io {

enum class DType {
  kBool,
  kU8,
  kI8,
  kF8E4M3,
  kF8E5M2,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kI64,
  kU64,
  kF64,
};

size_t DTypeSize(DType t);
const char* DTypeName(DType t);  // as written in a safetensors header, e.g. "BF16"
std::optional<DType> ParseDType(std::string_view name);
// The weight format a tensor of this type is read as (F32, BF16, F16); nullopt for the types the
// engine cannot use as weights. The one list both the checkpoint check and the binder read.
std::optional<WeightFormat> WeightFormatOf(DType t);

}  // namespace qwenvl::io
