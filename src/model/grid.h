// The size of one image or video in patches, as the preprocessor reports it (model-spec §3,
// grid_thw).
#pragma once

#include <cstdint>
#include <span>

namespace qwenvl::model {

// t: temporal patches (frames / temporal_patch_size), h and w: patch rows and columns (multiples of
// spatial_merge_size).
struct GridThw {
  int64_t t = 0;
  int64_t h = 0;
  int64_t w = 0;

  int64_t num_patches() const { return t * h * w; }
};

// Σ t·h·w over all items: the rows of pixel_values.
inline int64_t TotalPatches(std::span<const GridThw> grids) {
  int64_t n = 0;
  for (const GridThw& g : grids) n += g.num_patches();
  return n;
}

}  // namespace qwenvl::model
