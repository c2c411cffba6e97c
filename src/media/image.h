// The picture types shared by the media pipeline: decoded 8-bit RGB and the patch matrix the
// vision encoder takes (model-spec §6).
#pragma once

#include <cstdint>
#include <vector>

namespace qwenvl::media {

// 8-bit RGB, row-major [height, width, 3].
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;
};

// Normalized, flattened patches (model-spec §6.4, §6.5): rows in merge-block order, columns in
// (c, tt, py, px) order. values is [grid_t * grid_h * grid_w, 3 * temporal_patch * patch * patch].
struct Patches {
  std::vector<float> values;
  int64_t grid_t = 0;
  int64_t grid_h = 0;  // in 14-pixel patches
  int64_t grid_w = 0;
  int64_t rows() const { return grid_t * grid_h * grid_w; }
};

}  // namespace qwenvl::media
