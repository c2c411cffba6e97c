// Fuzz target: a quantized-weight cache file (compute/weight_cache.h) must be accepted or refused,
// never crash or read outside the bytes; every entry an accepted file lists lies inside it. The
// input is parsed as it is and once more with its header hash made right, so that mutations reach
// the tensor table past the hash check.
#include <cstdint>
#include <string_view>
#include <vector>

#include "compute/weight_cache.h"

namespace {

void Check(std::span<const uint8_t> file) {
  for (const qwenvl::WeightFormat f : {qwenvl::WeightFormat::kQ8, qwenvl::WeightFormat::kQ4}) {
    const auto entries = qwenvl::compute::ParseWeightCacheFile(file, f, "fuzz");
    if (!entries) continue;
    for (const auto& e : *entries) {
      if (e.offset + e.bytes > file.size()) __builtin_trap();
      (void)qwenvl::compute::WeightCacheEntryIntact(file, e);  // ASan: reads only inside
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  Check(bytes);
  qwenvl::compute::SealWeightCacheHeader(bytes);
  Check(bytes);
  return 0;
}
