// The loop nest of the packed GEMMs (bf16 dot products, AMX tiles, int8 dot products), internal to
// kernels/. The rows of x are cut into blocks, the weight rows into units, the reduction into
// panels. A thread owns a contiguous range of units (so each output element is computed by one
// thread, in one order, whatever the thread count) and walks:
//   panel → group of blocks whose packed x panel stays in L2 → unit (prepared once per panel and
//   group: converted or repacked weights) → block.
// Sums that span several panels wait in a per-(unit, block) buffer between them, so every element
// is still summed over the reduction in one sequential order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace qwenvl::kernels {

struct PanelPlan {
  int64_t blocks = 0;          // blocks of x rows
  int64_t units = 0;           // units of weight rows
  int64_t k = 0;               // reduction length, in the kernel's own steps (padded)
  int64_t kc = 0;              // panel length (same steps)
  int64_t group = 1;           // blocks per group
  int64_t partial_floats = 0;  // floats carried per (unit, block) between panels
};

// One step of the nest, as the step callback sees it.
struct PanelStep {
  int64_t block, unit;
  int64_t p0, kc;    // this panel
  float* partial;    // the (unit, block) carry buffer; null when k fits one panel
  bool first, last;  // first / last panel of the reduction
};

// Panels of at most max_kc steps, equal, rounded up to a multiple of `multiple`.
inline int64_t EqualPanel(int64_t k, int64_t max_kc, int64_t multiple) {
  const int64_t panels = (k + max_kc - 1) / max_kc;
  const int64_t kc = (k + panels - 1) / panels;
  return std::max(multiple, (kc + multiple - 1) / multiple * multiple);
}

// Blocks per group so that `group · block_panel_bytes` stays within l2_bytes (at least one).
inline int64_t GroupFor(int64_t block_panel_bytes, int64_t l2_bytes) {
  return std::max<int64_t>(1, l2_bytes / std::max<int64_t>(1, block_panel_bytes));
}

// Runs the nest over units [begin, end) on the calling thread: prepare(unit, p0, kc) then
// step(PanelStep) for each block of the current group.
template <class Prepare, class Step>
void RunPanelRange(const PanelPlan& plan, int64_t begin, int64_t end, Prepare&& prepare,
                   Step&& step) {
  thread_local std::vector<float> partial_storage;  // grows to the largest request, then stays
  const bool carry = plan.kc < plan.k;
  if (carry) partial_storage.resize((end - begin) * plan.blocks * plan.partial_floats);
  for (int64_t p0 = 0; p0 < plan.k; p0 += plan.kc) {
    const int64_t kcur = std::min(plan.kc, plan.k - p0);
    for (int64_t b0 = 0; b0 < plan.blocks; b0 += plan.group) {
      const int64_t b1 = std::min(plan.blocks, b0 + plan.group);
      for (int64_t u = begin; u < end; ++u) {
        prepare(u, p0, kcur);
        for (int64_t b = b0; b < b1; ++b) {
          float* partial =
              carry ? partial_storage.data() + ((u - begin) * plan.blocks + b) * plan.partial_floats
                    : nullptr;
          step(PanelStep{b, u, p0, kcur, partial, p0 == 0, p0 + kcur >= plan.k});
        }
      }
    }
  }
  // The carry is as large as this thread's share of y: do not keep a huge one (a 72B-wide
  // prefill) for the rest of the process.
  constexpr size_t kKeepFloats = size_t{16} << 20;  // 64 MiB
  if (partial_storage.capacity() > kKeepFloats) std::vector<float>().swap(partial_storage);
}

// y[i0 + row, j0 + r] = tile[r · row_stride + row] (+ bias[j0 + r]) for row < rows, r < nr: a
// finished tile of the step, stored one output column per weight row, written into y [m, n].
// Row by row: the nr outputs of one row share a cache line of y, which is usually not cached (y is
// written once, tens of MB at vision sizes). Column by column, each of a tile's rows stalled on
// that line's miss nr times over: about a sixth of a bf16 vision GEMM's samples were these stores.
inline void StoreColumnTile(const float* tile, int64_t row_stride, int64_t rows, int64_t nr,
                            int64_t i0, int64_t j0, const float* bias, float* y, int64_t n) {
  for (int64_t row = 0; row < rows; ++row) {
    float* out = y + (i0 + row) * n + j0;
    for (int64_t r = 0; r < nr; ++r)
      out[r] = tile[r * row_stride + row] + (bias ? bias[j0 + r] : 0.0f);
  }
}

}  // namespace qwenvl::kernels
