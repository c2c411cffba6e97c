// One vision transformer block (model-spec §3.5): pre-norm attention over segments with 2-D rotary,
// then a gated SiLU MLP, both with biases and residual connections. Computed in float32 from the
// stored weights.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "model/weights.h"
#include "util/thread_pool.h"

namespace qwenvl::model {

// Activation buffers of one Encode call, sized once from the request and reused by every block
// (no allocation inside the layer loop).
struct VisionScratch {
  VisionScratch(const io::VisionConfig& config, int64_t num_patches);

  int64_t num_patches;
  int64_t mlp_rows;           // rows of one MLP chunk
  std::vector<float> normed;  // [num_patches, hidden]
  std::vector<float> qkv;     // [num_patches, 3 * hidden]
  std::vector<float> attn;    // [num_patches, hidden]
  std::vector<float> gate;    // [mlp_rows, intermediate]
  std::vector<float> up;      // [mlp_rows, intermediate]
};

// What a block needs besides its weights; all in window order.
struct VisionBlockInputs {
  std::span<const int64_t> cu_seqlens;  // attention segments in patches (windows or frames)
  const float* cos;                     // [num_patches, head_dim]
  const float* sin;                     // [num_patches, head_dim]
};

class VisionBlock {
 public:
  // Binds visual.blocks.<index>.* (views into the mapping; norms and biases as float32).
  VisionBlock(const io::TensorStore& store, const io::VisionConfig& config, int64_t index,
              const BindOptions& options = {});

  // x [num_patches, hidden], window order, updated in place.
  void Forward(float* x, const VisionBlockInputs& in, VisionScratch& scratch,
               ThreadPool& pool) const;

 private:
  void AttentionPart(float* x, const VisionBlockInputs& in, VisionScratch& s,
                     ThreadPool& pool) const;
  void MlpPart(float* x, VisionScratch& s, ThreadPool& pool) const;

  int64_t hidden_;
  int64_t num_heads_;
  int64_t head_dim_;
  float eps_;
  std::vector<float> norm1_;  // [hidden]
  std::vector<float> norm2_;  // [hidden]
  Linear qkv_;                // [3 * hidden, hidden]
  Linear proj_;               // [hidden, hidden]
  Linear gate_;               // [intermediate, hidden]
  Linear up_;                 // [intermediate, hidden]
  Linear down_;               // [hidden, intermediate]
};

// x[i] += delta[i] for rows × dim floats (the residual connections).
void AddResidual(float* x, const float* delta, int64_t rows, int64_t dim, ThreadPool& pool);

}  // namespace qwenvl::model
