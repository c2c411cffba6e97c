// The 2-D rotary position embedding of the vision encoder (model-spec §3.3): per patch, the first
// quarter of the head's frequencies rotate by the patch row, the second by the column, both halves
// of rotate_half share them (pitfall 7).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/grid.h"

namespace qwenvl::model {

// theta of the vision rotary: fixed in the reference (VisionRotaryEmbedding), not a config key.
inline constexpr double kVisionRopeTheta = 10000.0;

// Angles [num_patches, head_dim / 2] in natural (merge-block, §3.2) order: for patch (row, col),
// angles[k] = row · inv_freq[k] and angles[head_dim/4 + k] = col · inv_freq[k], k < head_dim/4,
// inv_freq[k] = theta^(−4k / head_dim). Rows and columns restart at 0 for every item and repeat
// for every temporal index.
std::vector<float> VisionRotaryAngles(std::span<const GridThw> grids, int64_t head_dim,
                                      int64_t merge_size);

// cos and sin tables [num_patches, head_dim] in WINDOW order (pitfall 9): window position j takes
// the patches of natural merged token window_index[j]; each row is concat(angles, angles).
struct RotaryTables {
  std::vector<float> cos;
  std::vector<float> sin;
};
RotaryTables WindowOrderRotaryTables(std::span<const float> angles,
                                     std::span<const int64_t> window_index, int64_t head_dim,
                                     int64_t merge_size);

}  // namespace qwenvl::model
