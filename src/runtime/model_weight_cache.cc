#include "runtime/model_weight_cache.h"

#include "io/checkpoint_identity.h"
#include "util/error.h"

namespace qwenvl::runtime {

std::unique_ptr<compute::WeightCache> MakeModelWeightCache(const std::string& model_dir,
                                                           const std::string& setting,
                                                           WeightPrecision text,
                                                           WeightPrecision vision) {
  if (!TraitsOf(text).quantize_to && !TraitsOf(vision).quantize_to) return nullptr;
  const std::string dir = compute::WeightCache::ResolveDir(setting);
  if (dir.empty()) return nullptr;
  try {
    const io::CheckpointIdentity id = io::IdentifyCheckpoint(model_dir);
    return std::make_unique<compute::WeightCache>(dir, id.stem, id.key);
  } catch (const Error&) {
    return nullptr;  // the model's own load names what is wrong with the folder
  }
}

}  // namespace qwenvl::runtime
