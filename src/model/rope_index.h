// Position ids of a prompt for M-RoPE (model-spec §5.2, transformers get_rope_index): text tokens
// advance all three streams by one, each image or video block gets (t, h, w) grid coordinates
// offset by the next text position, and rope_delta carries the gap into decode steps (§5.4).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "io/model_config.h"
#include "model/grid.h"
#include "model/mrope.h"
#include "qwenvl/token_id.h"

namespace qwenvl::model {

struct RopeIndexInput {
  std::span<const TokenId> input_ids;          // [seq_len], pads already expanded (§8.1)
  std::span<const GridThw> image_grids;        // in prompt order
  std::span<const GridThw> video_grids;        // in prompt order
  std::span<const double> second_per_grid_ts;  // [videos]; empty means 1.0 for every video
};

struct PositionIds {
  std::vector<int64_t> t, h, w;  // [seq_len] each
  int64_t rope_delta = 0;        // max position + 1 − seq_len

  int64_t size() const { return static_cast<int64_t>(t.size()); }
  PositionStreams Streams() const { return {t, h, w}; }
};

// Temporal position of temporal patch `it` of a video (§5.3, the float rule): the float32 product
// it · second_per_grid_t · tokens_per_second truncated toward zero.
int64_t VideoTemporalPosition(int64_t it, double second_per_grid_t, double tokens_per_second);

// Throws Error(kInvalidArgument) when the prompt's vision blocks disagree with the grids: a
// different number of image or video blocks than grids, a block whose pad run is shorter than
// t·h·w / merge², or a grid not divisible by the merge size.
PositionIds ComputePositionIds(const io::ModelConfig& config, const RopeIndexInput& input);

}  // namespace qwenvl::model
