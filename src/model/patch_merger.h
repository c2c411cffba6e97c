// The patch merger (model-spec §3.6): RMSNorm per patch, each merged token's spatial_merge_size²
// consecutive patches concatenated, a GELU(erf) MLP to out_hidden_size, then the inverse window
// permutation back to natural order (pitfall 11).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "model/weights.h"
#include "util/thread_pool.h"

namespace qwenvl::model {

// Buffers the merger writes into, borrowed from the encoder's scratch.
struct MergerScratch {
  std::span<float> normed;  // [num_patches, hidden] == [num_tokens, merged_dim]
  std::span<float> hidden;  // [num_tokens, merged_dim]
  std::span<float> output;  // [num_tokens, out_hidden], window order
};

class PatchMerger {
 public:
  // Binds visual.merger.* (views into the mapping; norm and biases as float32).
  PatchMerger(const io::TensorStore& store, const io::VisionConfig& config,
              const BindOptions& options = {});

  // x [num_patches, hidden] in window order → out [num_patches / merge², out_hidden] in natural
  // order (window position j goes to row window_index[j]).
  void Forward(const float* x, std::span<const int64_t> window_index, const MergerScratch& scratch,
               float* out, ThreadPool& pool) const;

  int64_t out_hidden() const { return mlp2_.out_features(); }

 private:
  int64_t hidden_;
  int64_t merged_dim_;
  float eps_;
  std::vector<float> ln_q_;  // [hidden]
  Linear mlp0_;              // [merged_dim, merged_dim]
  Linear mlp2_;              // [out_hidden, merged_dim]
};

}  // namespace qwenvl::model
