// The window permutation of the vision encoder (model-spec §3.4): which merged tokens attend to
// each other in the window-attention blocks, the order the encoder keeps its sequence in, and the
// segment boundaries of both attention kinds.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/grid.h"

namespace qwenvl::model {

struct WindowLayout {
  // [num_merged_tokens]: window position j holds the natural merged-token index (items in order,
  // t-major, then merged row, then merged column). Each item's and frame's tokens stay contiguous.
  std::vector<int64_t> window_index;
  // [num_windows + 1] cumulative window lengths in patches, empty windows kept as repeated values:
  // exactly what get_window_index returns before unique_consecutive (pitfall 8). Use
  // DropEmptySegments before attention.
  std::vector<int64_t> cu_window_seqlens;
};

// §3.4 get_window_index. merge_size: spatial_merge_size (2); window_side: window edge in merged
// tokens (window_size / spatial_merge_size / patch_size = 4). Grids must have h and w divisible by
// merge_size (checked by the caller).
WindowLayout ComputeWindowLayout(std::span<const GridThw> grids, int64_t merge_size,
                                 int64_t window_side);

// Removes consecutive repeats (empty windows) from cumulative boundaries: [0, 64, 64, 80] →
// [0, 64, 80].
std::vector<int64_t> DropEmptySegments(std::span<const int64_t> cu_seqlens);

// Full-attention boundaries in patches: one segment of h·w per temporal index of every item
// (pitfall 10): [0, cumsum(repeat(h·w, t))].
std::vector<int64_t> FrameCuSeqlens(std::span<const GridThw> grids);

}  // namespace qwenvl::model
