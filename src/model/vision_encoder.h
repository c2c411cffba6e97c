// The Qwen2.5-VL vision encoder (model-spec §3): patch embedding, window-ordered transformer blocks
// with 2-D rotary, patch merger. CPU, float32 activations computed from the stored weights.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "compute/backend.h"
#include "io/model_config.h"
#include "io/model_folder.h"
#include "model/grid.h"
#include "model/patch_merger.h"
#include "model/vision_block.h"
#include "model/weights.h"

namespace qwenvl::model {

// Intermediate values for parity checks against the reference (fixtures: vision_*). Activation
// rows are in natural order (patches as the preprocessor emits them), whatever the internal order.
struct VisionTaps {
  bool enabled = false;
  std::vector<float> patch_embed;          // [num_patches, hidden]
  std::vector<float> block0;               // [num_patches, hidden], after block 0
  std::vector<float> block_last;           // [num_patches, hidden], after block depth − 1
  std::vector<int64_t> window_index;       // [num_patches / merge²]
  std::vector<int64_t> cu_window_seqlens;  // in patches, empty windows kept as repeats
};

class VisionEncoder {
 public:
  // Uploads visual.* to backend (options apply to the blocks and the merger; the patch embedding
  // stays stored). backend and folder must outlive the encoder.
  // after_block (optional) is called once each block's weights are in place (load progress).
  VisionEncoder(compute::Backend& backend, const io::ModelFolder& folder,
                const BindOptions& options = {},
                const std::function<void()>& after_block = nullptr);

  // pixel_values [Σ t·h·w, patch_dim] for all items in order (§3.2 merge-block order within each).
  // Returns [Σ t·h·w / merge², out_hidden] in natural order: per item, per temporal index, merged
  // tokens row-major — the rows written at the pad tokens. Throws Error(kInvalidArgument) when the
  // grids and pixel_values disagree. taps (optional, used when taps->enabled) receives
  // intermediates. between_blocks (optional) is called after each block, on the calling thread
  // between two blocks' work: a scheduler runs other sequences' decode steps there, so that a
  // large picture does not stall them for the whole encoding.
  std::vector<float> Encode(std::span<const float> pixel_values, std::span<const GridThw> grids,
                            VisionTaps* taps = nullptr,
                            const std::function<void()>& between_blocks = nullptr) const;
  // Encode, the rows left in the backend's memory: [Σ t·h·w / merge², out_hidden].
  compute::Buffer EncodeToBuffer(std::span<const float> pixel_values,
                                 std::span<const GridThw> grids, VisionTaps* taps = nullptr,
                                 const std::function<void()>& between_blocks = nullptr) const;

  const io::VisionConfig& config() const { return config_; }

 private:
  void CheckInputs(std::span<const float> pixel_values, std::span<const GridThw> grids) const;

  // rows [num_patches, hidden] of window-ordered x, in natural order on the host (taps).
  void TapNatural(const compute::Tensor& x, std::span<const int64_t> window_index,
                  std::vector<float>& dst) const;

  compute::Backend* backend_;
  io::VisionConfig config_;
  compute::Weight
      patch_embed_;  // [hidden, patch_dim], Conv3d weight [hidden, c, tt, py, px] flattened
  std::vector<VisionBlock> blocks_;
  PatchMerger merger_;
};

}  // namespace qwenvl::model
