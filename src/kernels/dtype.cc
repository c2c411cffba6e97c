#include "kernels/dtype.h"

namespace qwenvl::kernels {

const char* WeightTypeName(WeightType t) {
  switch (t) {
    case WeightType::kF32:
      return "f32";
    case WeightType::kBF16:
      return "bf16";
    case WeightType::kF16:
      return "f16";
    case WeightType::kQ8:
      return "q8";
    case WeightType::kQ4:
      return "q4";
  }
  return "unknown";
}

}  // namespace qwenvl::kernels
