// The patch merger (model-spec §3.6): RMSNorm per patch, each merged token's spatial_merge_size²
// consecutive patches concatenated, a GELU(erf) MLP to out_hidden_size, then the inverse window
// permutation back to natural order (pitfall 11).
#pragma once

#include <cstdint>
#include <span>

#include "compute/backend.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "model/weights.h"

namespace qwenvl::model {

// Buffers the merger writes into (the encoder makes them once the blocks are done).
struct MergerScratch {
  compute::Tensor normed;  // [num_patches, hidden] == [num_tokens, merged_dim]
  compute::Tensor hidden;  // [num_tokens, merged_dim]
  compute::Tensor output;  // [num_tokens, out_hidden], window order
};

class PatchMerger {
 public:
  // Uploads the merger's tensors (io::PatchMergerTensors) to backend (norm and biases as float32).
  PatchMerger(compute::Backend& backend, const io::TensorStore& store,
              const io::VisionConfig& config, const BindOptions& options = {});

  // x [num_patches, hidden] in window order → out [num_patches / merge², out_hidden] in natural
  // order (window position j goes to row window_index[j]).
  void Forward(const compute::Tensor& x, std::span<const int64_t> window_index,
               const MergerScratch& scratch, const compute::Tensor& out) const;

  int64_t out_hidden() const { return mlp2_.out_features(); }

 private:
  compute::Backend* backend_;
  int64_t hidden_;
  int64_t merged_dim_;
  float eps_;
  compute::Buffer ln_q_;  // [1, hidden]
  compute::Weight mlp0_;  // [merged_dim, merged_dim]
  compute::Weight mlp2_;  // [out_hidden, merged_dim]
};

}  // namespace qwenvl::model
