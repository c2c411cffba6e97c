// Per-target body of Attention: flash-style tiling with online softmax, no [q_len, kv_len] score
// matrix. One task is (kv head, block of query positions); its rows are every query head of the GQA
// group at every position of the block, so one transposed K tile serves all of them (decode: the
// whole group). Keys are visited in fixed tiles of kKvVecs vectors from key 0, so each row's sums
// run in one order whatever the task split (results independent of the thread count).

#if defined(QWENVL_KERNELS_ATTENTION_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef QWENVL_KERNELS_ATTENTION_INL_H_
#undef QWENVL_KERNELS_ATTENTION_INL_H_
#else
#define QWENVL_KERNELS_ATTENTION_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/ops.h"

HWY_BEFORE_NAMESPACE();
namespace qwenvl::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int64_t kKvVecs = 4;        // keys per tile = kKvVecs · lanes
constexpr int64_t kRowsPerTask = 64;  // query rows (positions × group heads) per task

// Per-thread working set of one task.
struct FlashScratch {
  std::vector<float> kt;        // [head_dim][tile] transposed key tile
  std::vector<float> scores;    // [rows][tile] scores, then probabilities
  std::vector<float> out;       // [rows][head_dim] unnormalized output accumulators
  std::vector<float> max, sum;  // [rows] running max and denominator
};

struct FlashTask {
  int64_t kvh, pos0, positions, group;
};

// Row ρ of a task: position pos0 + ρ / group, query head kvh·group + ρ % group.
inline const float* TaskQuery(const AttentionArgs& a, const FlashTask& t, int64_t row) {
  return a.q + (t.pos0 + row / t.group) * a.q_stride +
         (t.kvh * t.group + row % t.group) * a.head_dim;
}

// Keys visible to row `row` (causal: up to its absolute position).
inline int64_t VisibleKeys(const AttentionArgs& a, const FlashTask& t, int64_t row) {
  return a.causal ? std::min(a.kv_len, a.q_offset + t.pos0 + row / t.group + 1) : a.kv_len;
}

// scores[row][jj] = scale · q_row · k[j0 + jj] for every row, one key tile (vector over keys).
inline void TileScores(const AttentionArgs& a, const FlashTask& t, int64_t rows, int64_t tile,
                       FlashScratch& s) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df)), d = a.head_dim;
  const float* kt = s.kt.data();
  for (int64_t row = 0; row < rows; ++row) {
    const float* q = TaskQuery(a, t, row);
    hn::Vec<decltype(df)> acc[kKvVecs];
    for (int64_t v = 0; v < kKvVecs; ++v) acc[v] = hn::Zero(df);
    for (int64_t c = 0; c < d; ++c) {
      const auto qc = hn::Set(df, q[c]);
      for (int64_t v = 0; v < kKvVecs; ++v) {
        acc[v] = hn::MulAdd(qc, hn::LoadU(df, kt + c * tile + v * lanes), acc[v]);
      }
    }
    const auto scale = hn::Set(df, a.scale);
    for (int64_t v = 0; v < kKvVecs; ++v) {
      hn::StoreU(hn::Mul(acc[v], scale), df, s.scores.data() + row * tile + v * lanes);
    }
  }
}

// Online softmax update of one row with keys [j0, j0 + count): rescales its accumulators by
// e^(old max − new max) and adds Σ p_j · v_j.
inline void TileUpdateRow(const AttentionArgs& a, const FlashTask& t, int64_t row, int64_t j0,
                          int64_t count, int64_t tile, FlashScratch& s) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df)), d = a.head_dim;
  float* p = s.scores.data() + row * tile;
  for (int64_t jj = count; jj < tile; ++jj) p[jj] = -INFINITY;
  auto vmax = hn::LoadU(df, p);
  for (int64_t v = 1; v < kKvVecs; ++v) vmax = hn::Max(vmax, hn::LoadU(df, p + v * lanes));
  const float new_max = std::max(s.max[row], hn::GetLane(hn::MaxOfLanes(df, vmax)));
  const float correction = std::exp(s.max[row] - new_max);
  auto vsum = hn::Zero(df);
  for (int64_t v = 0; v < kKvVecs; ++v) {
    const auto e = hn::Exp(df, hn::Sub(hn::LoadU(df, p + v * lanes), hn::Set(df, new_max)));
    hn::StoreU(e, df, p + v * lanes);
    vsum = hn::Add(vsum, e);
  }
  s.max[row] = new_max;
  s.sum[row] = s.sum[row] * correction + hn::GetLane(hn::SumOfLanes(df, vsum));
  float* o = s.out.data() + row * d;
  const float* vbase = a.v + j0 * a.v_stride + t.kvh * d;
  int64_t c = 0;
  for (; c + lanes <= d; c += lanes) {
    auto acc = hn::Mul(hn::LoadU(df, o + c), hn::Set(df, correction));
    for (int64_t jj = 0; jj < count; ++jj) {
      acc = hn::MulAdd(hn::Set(df, p[jj]), hn::LoadU(df, vbase + jj * a.v_stride + c), acc);
    }
    hn::StoreU(acc, df, o + c);
  }
  for (; c < d; ++c) {
    float acc = o[c] * correction;
    for (int64_t jj = 0; jj < count; ++jj) acc += p[jj] * vbase[jj * a.v_stride + c];
    o[c] = acc;
  }
}

// Packs keys [j0, j0 + count) of kv head kvh transposed into s.kt, zero past count.
inline void PackKeyTile(const AttentionArgs& a, int64_t kvh, int64_t j0, int64_t count,
                        int64_t tile, FlashScratch& s) {
  const int64_t d = a.head_dim;
  for (int64_t jj = 0; jj < tile; ++jj) {
    const float* k = a.k + (j0 + jj) * a.k_stride + kvh * d;
    for (int64_t c = 0; c < d; ++c) s.kt[c * tile + jj] = jj < count ? k[c] : 0.0f;
  }
}

inline void FlashAttentionTask(const AttentionArgs& a, const FlashTask& t, FlashScratch& s) {
  const hn::ScalableTag<float> df;
  const int64_t tile = kKvVecs * static_cast<int64_t>(hn::Lanes(df)), d = a.head_dim;
  const int64_t rows = t.positions * t.group;
  s.kt.resize(d * tile);
  s.scores.resize(rows * tile);
  s.out.assign(rows * d, 0.0f);
  s.max.assign(rows, -INFINITY);
  s.sum.assign(rows, 0.0f);
  const int64_t keys = VisibleKeys(a, t, rows - 1);  // the last row sees the most
  for (int64_t j0 = 0; j0 < keys; j0 += tile) {
    PackKeyTile(a, t.kvh, j0, std::min(tile, a.kv_len - j0), tile, s);
    TileScores(a, t, rows, tile, s);
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t count = std::min(tile, VisibleKeys(a, t, row) - j0);
      if (count > 0) TileUpdateRow(a, t, row, j0, count, tile, s);
    }
  }
  for (int64_t row = 0; row < rows; ++row) {
    const float inv = 1.0f / s.sum[row];
    const int64_t pos = t.pos0 + row / t.group, h = t.kvh * t.group + row % t.group;
    float* o = a.out + pos * a.out_stride + h * d;
    for (int64_t c = 0; c < d; ++c) o[c] = s.out[row * d + c] * inv;
  }
}

}  // namespace qwenvl::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // QWENVL_KERNELS_ATTENTION_INL_H_
