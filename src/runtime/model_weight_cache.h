// The quantized-weight cache of a model folder (compute::WeightCache), as the engine options and
// the command line ask for it.
#pragma once

#include <memory>
#include <string>

#include "compute/weight_cache.h"
#include "qwenvl/weight_format.h"

namespace qwenvl::runtime {

// setting: "" (the default folder: $QWENVL_WEIGHT_CACHE, else $XDG_CACHE_HOME/qwenvl/weights,
// else ~/.cache/qwenvl/weights), "off" (none) or a folder. Null when neither precision quantizes,
// when the cache is off, or when the folder's files cannot be identified (the load then reports
// its own error, or quantizes in memory).
std::unique_ptr<compute::WeightCache> MakeModelWeightCache(const std::string& model_dir,
                                                           const std::string& setting,
                                                           WeightPrecision text,
                                                           WeightPrecision vision);

}  // namespace qwenvl::runtime
