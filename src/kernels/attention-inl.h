// Per-target body of Attention: flash-style tiling with online softmax, no [q_len, kv_len] score
// matrix. One task is (kv head, block of query positions); its rows are every query head of the
// GQA group at every position of the block. Keys are visited in fixed tiles of kKvVecs vectors from
// key 0, so each row's sums run in one order whatever the task split (results independent of the
// thread count).
//
// Scores come one of two ways, with the same sums in the same order (bit for bit the same):
// - Transposed keys (prefill, vision): K is transposed into tiles once per call, shared by every
//   query block of its kv head; a score vector is one row against a tile's keys.
// - Row-major keys (decode: a task's rows fit one vector): the rows' queries are transposed
//   instead, and each key row is read where it is stored, its elements broadcast against the
//   vector of rows. Nothing is packed per call; keys stored as bf16 or q8 are widened a tile at a
//   time into the task's scratch, so decode reads the cache once, in its stored type.
// Values stored as bf16 or q8 are widened a tile at a time into the task's scratch.

#if defined(QWENVL_KERNELS_ATTENTION_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef QWENVL_KERNELS_ATTENTION_INL_H_
#undef QWENVL_KERNELS_ATTENTION_INL_H_
#else
#define QWENVL_KERNELS_ATTENTION_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "hwy/cache_control.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/ops.h"
#include "util/error.h"

HWY_BEFORE_NAMESPACE();
namespace qwenvl::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int64_t kKvVecs = 4;        // keys per tile = kKvVecs · lanes
constexpr int64_t kRowsPerTask = 64;  // query rows (positions × group heads) per task

// Per-thread working set of one task.
struct FlashScratch {
  const float* kt = nullptr;    // [head_dim][tile] transposed key tile being processed
  std::vector<float> scores;    // [rows][tile] scores, then probabilities
  std::vector<float> out;       // [rows][head_dim] unnormalized output accumulators
  std::vector<float> max, sum;  // [rows] running max and denominator
  std::vector<float> vtile;     // [tile][head_dim] value rows of a tile widened (bf16, q8)
  // Row-major keys only:
  std::vector<float> qt;        // [head_dim][lanes] the task's queries transposed, zero past rows
  std::vector<float> ktile;     // [tile][head_dim] key rows of a tile widened (bf16, q8)
  std::vector<float> key_rows;  // [tile][lanes] scores of a tile, a vector of rows per key
};

struct FlashTask {
  int64_t kvh, pos0, positions, group;
};

// out[0, d) = values [col0, col0 + d) of a stored bf16 or q8 row as float32 (col0 and d within
// one head, so a q8 row's blocks start at col0).
inline void WidenKvRow(const AttentionArgs& a, const float* row, int64_t col0, int64_t d,
                       float* out) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::RebindToUnsigned<decltype(df)> du;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  if (a.kv_type == KvType::kBf16) {
    const hn::Rebind<uint16_t, decltype(du)> d16;
    const auto* b = reinterpret_cast<const uint16_t*>(row) + col0;
    int64_t c = 0;
    for (; c + lanes <= d; c += lanes) {
      const auto bits = hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(d16, b + c)));
      hn::StoreU(hn::BitCast(df, bits), df, out + c);
    }
    for (; c < d; ++c) {
      const uint32_t u = static_cast<uint32_t>(b[c]) << 16;
      std::memcpy(out + c, &u, sizeof u);
    }
    return;
  }
  QWENVL_DCHECK(a.kv_type == KvType::kQ8);
  const hn::Rebind<int8_t, decltype(di)> d8;
  const int64_t block = KvQuantBlock(a.head_dim);
  const auto* q = reinterpret_cast<const int8_t*>(row);
  const int8_t* scales = q + a.num_kv_heads * a.head_dim;
  for (int64_t b0 = 0; b0 < d; b0 += block) {
    float scale;
    std::memcpy(&scale, scales + 4 * ((col0 + b0) / block), sizeof scale);
    const auto vscale = hn::Set(df, scale);
    const int8_t* qb = q + col0 + b0;
    int64_t c = 0;
    for (; c + lanes <= block; c += lanes) {
      const auto x = hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(d8, qb + c)));
      hn::StoreU(hn::Mul(x, vscale), df, out + b0 + c);
    }
    for (; c < block; ++c) out[b0 + c] = scale * static_cast<float>(qb[c]);
  }
}

// Asks for the cache lines of kv head kvh in rows [j0, j0 + count) of a stored K or V (row stride
// `stride` floats) ahead of their use: a decode task reads the cache once, row by row, and the
// rows of one head are separated by the other heads' (a stride the prefetchers follow late).
inline void PrefetchKvRows(const AttentionArgs& a, const float* rows, int64_t stride, int64_t j0,
                           int64_t count, int64_t kvh) {
  const int64_t d = a.head_dim;
  const int64_t col_bytes = a.kv_type == KvType::kF32 ? 4 : (a.kv_type == KvType::kBf16 ? 2 : 1);
  for (int64_t jj = 0; jj < count; ++jj) {
    const char* row = reinterpret_cast<const char*>(rows + (j0 + jj) * stride);
    const char* head = row + kvh * d * col_bytes;
    for (int64_t b = 0; b < d * col_bytes; b += 64) hwy::Prefetch(head + b);
    if (a.kv_type == KvType::kQ8) {  // the head's block scales, after every head's values
      hwy::Prefetch(row + a.num_kv_heads * d + 4 * (kvh * d / KvQuantBlock(d)));
    }
  }
}

// Row ρ of a task: position pos0 + ρ / group, query head kvh·group + ρ % group.
inline const float* TaskQuery(const AttentionArgs& a, const FlashTask& t, int64_t row) {
  return a.q + (t.pos0 + row / t.group) * a.q_stride +
         (t.kvh * t.group + row % t.group) * a.head_dim;
}

// Keys visible to row `row` (causal: up to its absolute position).
inline int64_t VisibleKeys(const AttentionArgs& a, const FlashTask& t, int64_t row) {
  return a.causal ? std::min(a.kv_len, a.q_offset + t.pos0 + row / t.group + 1) : a.kv_len;
}

// scores[row][jj] = scale · q_row · k[j0 + jj] for kRows rows from row0, one key tile (vector
// over keys; kRows · kKvVecs independent accumulators keep the FMA pipes busy).
template <int kRows>
HWY_INLINE void TileScoreRows(const AttentionArgs& a, const FlashTask& t, int64_t row0,
                              int64_t tile, FlashScratch& s) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df)), d = a.head_dim;
  const float* kt = s.kt;
  const float* q[kRows];
  hn::Vec<decltype(df)> acc[kRows][kKvVecs];
  for (int i = 0; i < kRows; ++i) {
    q[i] = TaskQuery(a, t, row0 + i);
    for (int64_t v = 0; v < kKvVecs; ++v) acc[i][v] = hn::Zero(df);
  }
  for (int64_t c = 0; c < d; ++c) {
    hn::Vec<decltype(df)> kv[kKvVecs];
    for (int64_t v = 0; v < kKvVecs; ++v) kv[v] = hn::LoadU(df, kt + c * tile + v * lanes);
    for (int i = 0; i < kRows; ++i) {
      const auto qc = hn::Set(df, q[i][c]);
      for (int64_t v = 0; v < kKvVecs; ++v) acc[i][v] = hn::MulAdd(qc, kv[v], acc[i][v]);
    }
  }
  const auto scale = hn::Set(df, a.scale);
  for (int i = 0; i < kRows; ++i) {
    for (int64_t v = 0; v < kKvVecs; ++v) {
      hn::StoreU(hn::Mul(acc[i][v], scale), df, s.scores.data() + (row0 + i) * tile + v * lanes);
    }
  }
}

// Four rows at a time where the target has 32 vector registers (16 accumulators, 4 key vectors):
// each key vector loaded then serves 4 FMAs, not 2, and 16 independent sums hide the FMA latency.
// A row's sums are the same whichever group it is scored in.
inline void TileScores(const AttentionArgs& a, const FlashTask& t, int64_t rows, int64_t tile,
                       FlashScratch& s) {
  int64_t row = 0;
#if HWY_TARGET <= HWY_AVX3
  for (; row + 4 <= rows; row += 4) TileScoreRows<4>(a, t, row, tile, s);
#endif
  for (; row + 2 <= rows; row += 2) TileScoreRows<2>(a, t, row, tile, s);
  if (row < rows) TileScoreRows<1>(a, t, row, tile, s);
}

// True when a task's rows fit one vector and no other task shares its keys: decode, and prefill
// pieces of a position or two. The keys are then scored where they are stored.
inline bool ScoresFromKeyRows(const AttentionArgs& a, int64_t positions_per_task) {
  const hn::ScalableTag<float> df;
  const int64_t group = a.num_heads / a.num_kv_heads;
  return a.q_len <= positions_per_task && a.q_len * group <= static_cast<int64_t>(hn::Lanes(df));
}

// s.qt[c][ρ] = element c of row ρ's query (zero for ρ ≥ rows): rows become the vector lanes.
inline void TransposeQueries(const AttentionArgs& a, const FlashTask& t, int64_t rows,
                             FlashScratch& s) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df)), d = a.head_dim;
  s.qt.assign(static_cast<size_t>(d * lanes), 0.0f);
  for (int64_t row = 0; row < rows; ++row) {
    const float* q = TaskQuery(a, t, row);
    for (int64_t c = 0; c < d; ++c) s.qt[c * lanes + row] = q[c];
  }
}

// key_rows[jj][ρ] = scale · q_ρ · k[jj] for kKeys keys from key_row[0] on (row stride
// key_stride): one accumulator per key, summed over c in order as TileScoreRows sums each lane.
template <int kKeys>
HWY_INLINE void KeyRowScores(const AttentionArgs& a, const float* key_row, int64_t key_stride,
                             const FlashScratch& s, float* key_rows) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df)), d = a.head_dim;
  hn::Vec<decltype(df)> acc[kKeys];
  for (int u = 0; u < kKeys; ++u) acc[u] = hn::Zero(df);
  const float* qt = s.qt.data();
  for (int64_t c = 0; c < d; ++c) {
    const auto qc = hn::LoadU(df, qt + c * lanes);
    for (int u = 0; u < kKeys; ++u) {
      acc[u] = hn::MulAdd(qc, hn::Set(df, key_row[u * key_stride + c]), acc[u]);
    }
  }
  const auto scale = hn::Set(df, a.scale);
  for (int u = 0; u < kKeys; ++u) hn::StoreU(hn::Mul(acc[u], scale), df, key_rows + u * lanes);
}

// scores[ρ][jj] for the tile of keys [j0, j0 + count) read row-major from the cache (float32) or
// from the tile's widened rows (bf16, q8); zero past count (the softmax masks those).
inline void TileScoresFromKeyRows(const AttentionArgs& a, const FlashTask& t, int64_t rows,
                                  int64_t j0, int64_t count, int64_t tile, FlashScratch& s) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df)), d = a.head_dim;
  const float* keys = a.k + j0 * a.k_stride + t.kvh * d;
  int64_t stride = a.k_stride;
  if (a.kv_type != KvType::kF32) {
    for (int64_t jj = 0; jj < count; ++jj) {
      WidenKvRow(a, a.k + (j0 + jj) * a.k_stride, t.kvh * d, d, s.ktile.data() + jj * d);
    }
    keys = s.ktile.data();
    stride = d;
  }
  float* key_rows = s.key_rows.data();
  int64_t jj = 0;
  for (; jj + 8 <= count; jj += 8) {
    KeyRowScores<8>(a, keys + jj * stride, stride, s, key_rows + jj * lanes);
  }
  for (; jj < count; ++jj) KeyRowScores<1>(a, keys + jj * stride, stride, s, key_rows + jj * lanes);
  for (int64_t row = 0; row < rows; ++row) {
    float* p = s.scores.data() + row * tile;
    for (jj = 0; jj < count; ++jj) p[jj] = key_rows[jj * lanes + row];
    for (; jj < tile; ++jj) p[jj] = 0.0f;
  }
}

// o[c..c + kNv·lanes) = o·correction + Σ_jj p[jj]·v[jj] with kNv independent accumulators.
template <int kNv>
HWY_INLINE void AccumulateValues(const float* p, int64_t count, const float* vbase,
                                 int64_t v_stride, float correction, float* o) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  // Keys go round-robin to kSets sets of accumulators (more sets when few vectors) so that enough
  // FMA chains run in parallel; the sets are added at the end, in a fixed order.
  constexpr int kSets = kNv >= 8 ? 1 : (kNv >= 4 ? 2 : 4);
  hn::Vec<decltype(df)> acc[kSets][kNv];
  for (int v = 0; v < kNv; ++v) {
    acc[0][v] = hn::Mul(hn::LoadU(df, o + v * lanes), hn::Set(df, correction));
    for (int set = 1; set < kSets; ++set) acc[set][v] = hn::Zero(df);
  }
  int64_t jj = 0;
  for (; jj + kSets <= count; jj += kSets) {
    for (int set = 0; set < kSets; ++set) {
      const auto pj = hn::Set(df, p[jj + set]);
      const float* vj = vbase + (jj + set) * v_stride;
      for (int v = 0; v < kNv; ++v) {
        acc[set][v] = hn::MulAdd(pj, hn::LoadU(df, vj + v * lanes), acc[set][v]);
      }
    }
  }
  for (; jj < count; ++jj) {
    const auto pj = hn::Set(df, p[jj]);
    for (int v = 0; v < kNv; ++v) {
      acc[0][v] = hn::MulAdd(pj, hn::LoadU(df, vbase + jj * v_stride + v * lanes), acc[0][v]);
    }
  }
  for (int v = 0; v < kNv; ++v) {
    auto total = acc[0][v];
    for (int set = 1; set < kSets; ++set) total = hn::Add(total, acc[set][v]);
    hn::StoreU(total, df, o + v * lanes);
  }
}

// Online softmax step of one row over a tile: turns its scores into e^(score − new max), updates
// its max and denominator, and returns e^(old max − new max), the factor for its accumulators.
inline float TileSoftmaxRow(int64_t row, int64_t count, int64_t tile, FlashScratch& s) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
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
  return correction;
}

// o[r][0, kNv·lanes) = o[r]·correction[r] + Σ_jj p[r][jj]·v[jj] for kR rows at once: each value
// vector loaded serves every row, so the loads no longer outnumber the FMAs (rows of a task share
// their kv head). Each element is still summed in key order.
template <int kR, int kNv>
HWY_INLINE void AccumulateValueRows(const float* p, int64_t tile, int64_t count, const float* vbase,
                                    int64_t v_stride, const float* correction, float* o,
                                    int64_t d) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  hn::Vec<decltype(df)> acc[kR][kNv];
  for (int r = 0; r < kR; ++r) {
    for (int v = 0; v < kNv; ++v) {
      acc[r][v] = hn::Mul(hn::LoadU(df, o + r * d + v * lanes), hn::Set(df, correction[r]));
    }
  }
  for (int64_t jj = 0; jj < count; ++jj) {
    hn::Vec<decltype(df)> vv[kNv];
    for (int v = 0; v < kNv; ++v) vv[v] = hn::LoadU(df, vbase + jj * v_stride + v * lanes);
    for (int r = 0; r < kR; ++r) {
      const auto pj = hn::Set(df, p[r * tile + jj]);
      for (int v = 0; v < kNv; ++v) acc[r][v] = hn::MulAdd(pj, vv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < kR; ++r) {
    for (int v = 0; v < kNv; ++v) hn::StoreU(acc[r][v], df, o + r * d + v * lanes);
  }
}

// Rows [row, row + kR) with the same visible key count, when the head fits the multi-row kernel
// (head_dim of 5 or 8 vectors on targets with 32 registers). Returns false to take one row alone.
inline bool TileUpdateRows(const AttentionArgs& a, const FlashTask& t, int64_t row, int64_t rows,
                           int64_t j0, int64_t count, int64_t tile, const float* vbase,
                           int64_t v_stride, FlashScratch& s, int64_t* done) {
#if HWY_TARGET <= HWY_AVX3
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df)), d = a.head_dim;
  const int64_t vecs = d % lanes == 0 ? d / lanes : 0;
  const int64_t group = vecs == 5 ? 4 : (vecs == 8 ? 2 : 0);
  if (group == 0 || row + group > rows) return false;
  for (int64_t r = 1; r < group; ++r) {
    if (std::min(tile, VisibleKeys(a, t, row + r) - j0) != count) return false;
  }
  float correction[4];
  for (int64_t r = 0; r < group; ++r) correction[r] = TileSoftmaxRow(row + r, count, tile, s);
  const float* p = s.scores.data() + row * tile;
  float* o = s.out.data() + row * d;
  if (vecs == 5) {
    AccumulateValueRows<4, 5>(p, tile, count, vbase, v_stride, correction, o, d);
  } else {
    AccumulateValueRows<2, 8>(p, tile, count, vbase, v_stride, correction, o, d);
  }
  *done = group;
  return true;
#else
  (void)a, (void)t, (void)row, (void)rows, (void)j0, (void)count, (void)tile, (void)vbase;
  (void)v_stride, (void)s, (void)done;
  return false;
#endif
}

// Online softmax update of one row with keys [j0, j0 + count): rescales its accumulators by
// e^(old max − new max) and adds Σ p_j · v_j.
inline void TileUpdateRow(const AttentionArgs& a, int64_t row, int64_t count, int64_t tile,
                          const float* vbase, int64_t v_stride, FlashScratch& s) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df)), d = a.head_dim;
  const float correction = TileSoftmaxRow(row, count, tile, s);
  const float* p = s.scores.data() + row * tile;
  float* o = s.out.data() + row * d;
  // As many vectors per pass as the row has (up to 8): a pass of one vector alone would be
  // bound by the FMA latency, not its throughput (the vision tower's head_dim 80 is 5 vectors).
  int64_t c = 0;
  for (; c + 8 * lanes <= d; c += 8 * lanes) {
    AccumulateValues<8>(p, count, vbase + c, v_stride, correction, o + c);
  }
  switch ((d - c) / lanes) {
    case 7:
    case 6:
    case 5:
      AccumulateValues<5>(p, count, vbase + c, v_stride, correction, o + c);
      c += 5 * lanes;
      break;
    case 4:
      AccumulateValues<4>(p, count, vbase + c, v_stride, correction, o + c);
      c += 4 * lanes;
      break;
    default:
      break;
  }
  for (; c + 2 * lanes <= d; c += 2 * lanes) {
    AccumulateValues<2>(p, count, vbase + c, v_stride, correction, o + c);
  }
  for (; c + lanes <= d; c += lanes) {
    AccumulateValues<1>(p, count, vbase + c, v_stride, correction, o + c);
  }
  for (; c < d; ++c) {
    float acc = o[c] * correction;
    for (int64_t jj = 0; jj < count; ++jj) acc += p[jj] * vbase[jj * v_stride + c];
    o[c] = acc;
  }
}

// Keys transposed per tile: kt_all[kvh][tile index][head_dim][tile], zero past kv_len. Packed
// once per call and shared by every query block of the kv head.
inline void PackKeyTile(const AttentionArgs& a, int64_t kvh, int64_t tile_index, int64_t tile,
                        float* kt_all) {
  const int64_t d = a.head_dim, tiles = (a.kv_len + tile - 1) / tile;
  const int64_t j0 = tile_index * tile, count = std::min(tile, a.kv_len - j0);
  float* kt = kt_all + (kvh * tiles + tile_index) * d * tile;
  const float* k0 = a.k + j0 * a.k_stride + kvh * d;
  if (a.kv_type != KvType::kF32) {  // widened one key at a time, then transposed
    thread_local std::vector<float> key;
    key.resize(static_cast<size_t>(d));
    for (int64_t jj = 0; jj < tile; ++jj) {
      if (jj < count) WidenKvRow(a, a.k + (j0 + jj) * a.k_stride, kvh * d, d, key.data());
      for (int64_t c = 0; c < d; ++c) kt[c * tile + jj] = jj < count ? key[c] : 0.0f;
    }
    return;
  }
  if (count == tile) {  // whole tile: gather one column of lanes keys at a time
    const hn::ScalableTag<float> df;
    const hn::RebindToSigned<decltype(df)> di;
    const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
    const auto offsets = hn::Mul(hn::Iota(di, 0), hn::Set(di, static_cast<int32_t>(a.k_stride)));
    for (int64_t v = 0; v < tile; v += lanes) {
      for (int64_t c = 0; c < d; ++c) {
        hn::StoreU(hn::GatherIndex(df, k0 + v * a.k_stride + c, offsets), df, kt + c * tile + v);
      }
    }
    return;
  }
  for (int64_t jj = 0; jj < tile; ++jj) {
    const float* k = a.k + (j0 + jj) * a.k_stride + kvh * d;
    for (int64_t c = 0; c < d; ++c) kt[c * tile + jj] = jj < count ? k[c] : 0.0f;
  }
}

// One task. kt_all: the transposed key tiles of every kv head, or null to score the keys from
// their rows (ScoresFromKeyRows).
inline void FlashAttentionTask(const AttentionArgs& a, const FlashTask& t, const float* kt_all,
                               FlashScratch& s) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t tile = kKvVecs * lanes, d = a.head_dim;
  const int64_t rows = t.positions * t.group;
  const int64_t tiles = (a.kv_len + tile - 1) / tile;
  s.scores.resize(rows * tile);
  s.out.assign(rows * d, 0.0f);
  s.max.assign(rows, -INFINITY);
  s.sum.assign(rows, 0.0f);
  const int64_t keys = VisibleKeys(a, t, rows - 1);  // the last row sees the most
  if (a.kv_type != KvType::kF32) s.vtile.resize(static_cast<size_t>(tile * d));
  if (kt_all == nullptr) {
    QWENVL_DCHECK(rows <= lanes);
    TransposeQueries(a, t, rows, s);
    s.key_rows.resize(static_cast<size_t>(tile * lanes));
    if (a.kv_type != KvType::kF32) s.ktile.resize(static_cast<size_t>(tile * d));
  }
  for (int64_t j0 = 0; j0 < keys; j0 += tile) {
    if (kt_all == nullptr && j0 + tile < keys) {  // the next tile's keys and values
      const int64_t next = std::min(tile, keys - j0 - tile);
      PrefetchKvRows(a, a.k, a.k_stride, j0 + tile, next, t.kvh);
      PrefetchKvRows(a, a.v, a.v_stride, j0 + tile, next, t.kvh);
    }
    if (kt_all == nullptr) {
      TileScoresFromKeyRows(a, t, rows, j0, std::min(tile, keys - j0), tile, s);
    } else {
      s.kt = kt_all + (t.kvh * tiles + j0 / tile) * d * tile;
      TileScores(a, t, rows, tile, s);
    }
    const float* vbase = a.v + j0 * a.v_stride + t.kvh * d;
    int64_t v_stride = a.v_stride;
    if (a.kv_type != KvType::kF32) {  // this tile's value rows, widened once for all rows
      const int64_t count = std::min(tile, keys - j0);
      for (int64_t jj = 0; jj < count; ++jj) {
        WidenKvRow(a, a.v + (j0 + jj) * a.v_stride, t.kvh * d, d, s.vtile.data() + jj * d);
      }
      vbase = s.vtile.data();
      v_stride = d;
    }
    for (int64_t row = 0; row < rows;) {
      const int64_t count = std::min(tile, VisibleKeys(a, t, row) - j0);
      int64_t done = 1;
      if (count > 0 &&
          !TileUpdateRows(a, t, row, rows, j0, count, tile, vbase, v_stride, s, &done)) {
        TileUpdateRow(a, row, count, tile, vbase, v_stride, s);
      }
      row += done;
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
