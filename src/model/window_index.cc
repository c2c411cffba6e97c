#include "model/window_index.h"

#include <algorithm>

#include "util/error.h"

namespace qwenvl::model {

namespace {

// One item's windows, appended to `out`. The reference pads the merged grid on the bottom/right by
// window_side − (n % window_side), a whole empty window when n is already a multiple (pitfall 8);
// the loops below visit the same windows and skip the padding cells, so the empty windows show up
// as repeated boundaries just as in the reference.
void AppendItemWindows(const GridThw& g, int64_t merge_size, int64_t window_side, int64_t base,
                       WindowLayout& out) {
  const int64_t rows = g.h / merge_size, cols = g.w / merge_size;  // merged grid
  const int64_t window_rows = (rows + window_side - rows % window_side) / window_side;
  const int64_t window_cols = (cols + window_side - cols % window_side) / window_side;
  const int64_t patches_per_token = merge_size * merge_size;
  for (int64_t t = 0; t < g.t; ++t) {
    const int64_t frame_base = base + t * rows * cols;
    for (int64_t wr = 0; wr < window_rows; ++wr) {
      for (int64_t wc = 0; wc < window_cols; ++wc) {
        const int64_t r_end = std::min(rows, (wr + 1) * window_side);
        const int64_t c_end = std::min(cols, (wc + 1) * window_side);
        int64_t count = 0;
        for (int64_t r = wr * window_side; r < r_end; ++r) {
          for (int64_t c = wc * window_side; c < c_end; ++c, ++count) {
            out.window_index.push_back(frame_base + r * cols + c);
          }
        }
        out.cu_window_seqlens.push_back(out.cu_window_seqlens.back() + count * patches_per_token);
      }
    }
  }
}

}  // namespace

WindowLayout ComputeWindowLayout(std::span<const GridThw> grids, int64_t merge_size,
                                 int64_t window_side) {
  QWENVL_CHECK(merge_size > 0 && window_side > 0);
  WindowLayout out;
  out.cu_window_seqlens.push_back(0);
  int64_t base = 0;  // merged tokens of the items before this one
  for (const GridThw& g : grids) {
    QWENVL_CHECK(g.t > 0 && g.h % merge_size == 0 && g.w % merge_size == 0);
    AppendItemWindows(g, merge_size, window_side, base, out);
    base += g.num_patches() / (merge_size * merge_size);
  }
  return out;
}

std::vector<int64_t> DropEmptySegments(std::span<const int64_t> cu_seqlens) {
  std::vector<int64_t> out;
  out.reserve(cu_seqlens.size());
  for (int64_t b : cu_seqlens) {
    if (out.empty() || out.back() != b) out.push_back(b);
  }
  return out;
}

std::vector<int64_t> FrameCuSeqlens(std::span<const GridThw> grids) {
  std::vector<int64_t> out{0};
  for (const GridThw& g : grids) {
    for (int64_t t = 0; t < g.t; ++t) out.push_back(out.back() + g.h * g.w);
  }
  return out;
}

}  // namespace qwenvl::model
