#include "model/vision_rotary.h"

#include <algorithm>
#include <cmath>

#include "model/window_index.h"
#include "util/error.h"

namespace qwenvl::model {

std::vector<float> VisionRotaryAngles(std::span<const GridThw> grids, int64_t head_dim,
                                      int64_t merge_size) {
  QWENVL_CHECK(head_dim % 4 == 0);
  const int64_t half = head_dim / 2, quarter = head_dim / 4;
  // The reference builds inv_freq in float32: 1 / theta^(arange(0, half, 2) / half).
  std::vector<float> inv_freq(quarter);
  for (int64_t k = 0; k < quarter; ++k) {
    inv_freq[k] = static_cast<float>(
        1.0 / std::pow(kVisionRopeTheta, static_cast<double>(2 * k) / static_cast<double>(half)));
  }
  std::vector<float> angles(static_cast<size_t>(TotalPatches(grids) * half));
  float* out = angles.data();
  for (const GridThw& g : grids) {
    for (int64_t t = 0; t < g.t; ++t) {
      // §3.2 merge-block order: merged row, merged column, then the block row-major.
      for (int64_t bh = 0; bh < g.h / merge_size; ++bh) {
        for (int64_t bw = 0; bw < g.w / merge_size; ++bw) {
          for (int64_t mh = 0; mh < merge_size; ++mh) {
            for (int64_t mw = 0; mw < merge_size; ++mw, out += half) {
              const auto row = static_cast<float>(bh * merge_size + mh);
              const auto col = static_cast<float>(bw * merge_size + mw);
              for (int64_t k = 0; k < quarter; ++k) {
                out[k] = row * inv_freq[k];
                out[quarter + k] = col * inv_freq[k];
              }
            }
          }
        }
      }
    }
  }
  return angles;
}

RotaryTables WindowOrderRotaryTables(std::span<const float> angles,
                                     std::span<const int64_t> window_index, int64_t head_dim,
                                     int64_t merge_size) {
  const int64_t half = head_dim / 2;
  const int64_t num_patches = static_cast<int64_t>(angles.size()) / half;
  QWENVL_CHECK(num_patches == static_cast<int64_t>(window_index.size()) * merge_size * merge_size);
  // [num_patches, half], window order: position j takes merged token window_index[j]'s patches.
  const int64_t group = merge_size * merge_size * half;
  std::vector<float> permuted(angles.size());
  for (size_t j = 0; j < window_index.size(); ++j) {
    std::copy_n(angles.begin() + window_index[j] * group, group,
                permuted.begin() + static_cast<int64_t>(j) * group);
  }
  RotaryTables tables;
  tables.cos.resize(static_cast<size_t>(num_patches * head_dim));
  tables.sin.resize(tables.cos.size());
  for (int64_t p = 0; p < num_patches; ++p) {
    for (int64_t k = 0; k < half; ++k) {
      const double a = permuted[p * half + k];
      const auto c = static_cast<float>(std::cos(a)), s = static_cast<float>(std::sin(a));
      tables.cos[p * head_dim + k] = tables.cos[p * head_dim + half + k] = c;
      tables.sin[p * head_dim + k] = tables.sin[p * head_dim + half + k] = s;
    }
  }
  return tables;
}

}  // namespace qwenvl::model
