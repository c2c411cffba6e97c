// One vision transformer block (model-spec §3.5): pre-norm attention over segments with 2-D rotary,
// then a gated SiLU MLP, both with biases and residual connections.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "compute/arena.h"
#include "compute/backend.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "model/weights.h"

namespace qwenvl::model {

// Activation buffers of one Encode call in the backend's memory, sized once from the request and
// reused by every block (no allocation inside the layer loop).
struct VisionScratch {
  VisionScratch(compute::Backend& backend, const io::VisionConfig& config, int64_t num_patches);

  // The blocks' own tensors go once the last block ran (the merger's are made after, so that the
  // peak stays that of the blocks); x and normed stay for the merger.
  void ReleaseBlockTensors();

  int64_t num_patches;
  int64_t mlp_rows;             // rows of one MLP chunk
  compute::Arena stream_arena;  // x, normed
  compute::Arena block_arena;   // qkv, attn, gate, up, cos, sin
  compute::Tensor x;            // [num_patches, hidden], the residual stream in window order
  compute::Tensor normed;       // [num_patches, hidden]
  compute::Tensor qkv;          // [num_patches, 3 * hidden]
  compute::Tensor attn;         // [num_patches, hidden]
  compute::Tensor gate;         // [mlp_rows, intermediate]
  compute::Tensor up;           // [mlp_rows, intermediate]
  compute::Tensor cos;          // [num_patches, head_dim], window order
  compute::Tensor sin;          // [num_patches, head_dim], window order
  std::vector<compute::AttentionSegment> segments;
};

class VisionBlock {
 public:
  // Uploads block `index`'s tensors (io::VisionBlockTensors) to backend (norms and biases as
  // float32).
  VisionBlock(compute::Backend& backend, const io::TensorStore& store,
              const io::VisionConfig& config, int64_t index, const BindOptions& options = {});

  // scratch.x [num_patches, hidden], window order, updated in place. cu_seqlens: the attention
  // segments in patches (windows or frames), no empty ones; scratch.cos/sin filled.
  void Forward(std::span<const int64_t> cu_seqlens, VisionScratch& scratch) const;

 private:
  void AttentionPart(std::span<const int64_t> cu_seqlens, VisionScratch& s) const;
  void MlpPart(VisionScratch& s) const;

  compute::Backend* backend_;
  int64_t hidden_;
  int64_t num_heads_;
  int64_t head_dim_;
  float eps_;
  compute::Buffer norm1_;  // [1, hidden]
  compute::Buffer norm2_;  // [1, hidden]
  compute::Weight qkv_;    // [3 * hidden, hidden]
  compute::Weight proj_;   // [hidden, hidden]
  compute::Weight gate_;   // [intermediate, hidden]
  compute::Weight up_;     // [intermediate, hidden]
  compute::Weight down_;   // [hidden, intermediate]
};

}  // namespace qwenvl::model
