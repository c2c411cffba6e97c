// Per-target bodies of MatMul for stored weight types (f32, bf16, f16).
//
// Two paths, both summing each output element over k in one fixed order (so results do not
// depend on the thread count; threads split n in fixed units):
// - Gemv (m < kGemmMinRows, decode): streams each weight row once, converts on the fly and
//   multiplies it with up to 4 rows of x at a time. Memory bound.
// - Gemm (m >= kGemmMinRows, prefill and vision): x is packed transposed into blocks of
//   kGemmMaxMrv vectors of rows; each unit of kGemmNr weight rows is converted to float once into a
//   per-thread buffer and reused for every block of x rows by a register-blocked tile
//   (kGemmMaxMrv × kGemmNr accumulators). Compute bound.

#if defined(QWENVL_KERNELS_MATMUL_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef QWENVL_KERNELS_MATMUL_INL_H_
#undef QWENVL_KERNELS_MATMUL_INL_H_
#else
#define QWENVL_KERNELS_MATMUL_INL_H_
#endif

#include <algorithm>
#include <cstdint>
#include <vector>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/matmul_kernel.h"
#include "kernels/weights-inl.h"
#include "util/thread_pool.h"

HWY_BEFORE_NAMESPACE();
namespace qwenvl::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int64_t kGemvNr = 4;         // weight rows per Gemv tile (and per thread unit)
constexpr int64_t kGemvMr = 4;         // x rows per Gemv tile
constexpr int64_t kPrefetchUnits = 1;  // Gemv prefetches this many units ahead
constexpr int64_t kGemmMinRows = kMatMulGemmRows;  // from this many rows of x on, Gemm wins
constexpr int64_t kGemmNr = 6;             // weight rows per Gemm tile (and per thread unit)
constexpr int64_t kGemmL2Bytes = 1 << 20;  // packed x panel kept in L2 while weights stream by
constexpr int64_t kGemmMaxPanel = 2048;    // longest k panel
#if HWY_TARGET <= HWY_AVX3
constexpr int64_t kGemmMaxMrv = 4;  // 4 × 6 accumulators + 4 x vectors + 1 broadcast ≤ 32 regs
#else
constexpr int64_t kGemmMaxMrv = 2;  // 2 × 6 + 2 + 1 ≤ 16 registers
#endif

// Stored rows are prefetched one unit ahead: a row of the 3B decoder (2048 bf16) is one 4 KiB page,
// and the hardware prefetcher does not cross pages, so without this every row starts cold from
// DRAM. Called for every vector of columns p; prefetches once per 64-byte line.
template <typename T>
HWY_INLINE void PrefetchRow(const T* row, int64_t p) {
  if ((p * static_cast<int64_t>(sizeof(T))) % 64 == 0) hwy::Prefetch(row + p);
}
HWY_INLINE void PrefetchRow(const Q8Row&, int64_t) {}
HWY_INLINE void PrefetchRow(const Q4Row&, int64_t) {}

// y[i, r] = x[i, :] · w[r, :] (+ bias[r]) for i < kMr, r < kNr; w[r] are row readers. When next is
// not null, the rows next[r] are prefetched along the way.
template <int kMr, int kNr, typename R>
HWY_INLINE void GemvTile(const float* HWY_RESTRICT x, int64_t k, const R* w, const R* next,
                         const float* bias, float* HWY_RESTRICT y, int64_t n) {
  const hn::ScalableTag<float> df;
  using V = hn::Vec<decltype(df)>;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  V acc[kMr][kNr];
  for (int i = 0; i < kMr; ++i) {
    for (int r = 0; r < kNr; ++r) acc[i][r] = hn::Zero(df);
  }
  int64_t p = 0;
  for (; p + lanes <= k; p += lanes) {
    V wv[kNr];
    if (next != nullptr) {
      for (int r = 0; r < kNr; ++r) PrefetchRow(next[r], p);
    }
    for (int r = 0; r < kNr; ++r) wv[r] = LoadRow(df, w[r], p);
    for (int i = 0; i < kMr; ++i) {
      const V xv = hn::LoadU(df, x + i * k + p);
      for (int r = 0; r < kNr; ++r) acc[i][r] = hn::MulAdd(xv, wv[r], acc[i][r]);
    }
  }
  for (int i = 0; i < kMr; ++i) {
    for (int r = 0; r < kNr; ++r) {
      float s = hn::GetLane(hn::SumOfLanes(df, acc[i][r]));
      for (int64_t q = p; q < k; ++q) s += x[i * k + q] * ElementAt(w[r], q);
      y[i * n + r] = bias ? s + bias[r] : s;
    }
  }
}

// Columns [j, j + kNr) of y for all m rows; rows [j + kNr, j + 2·kNr) are prefetched when they
// are below j_end (the next unit of the same thread).
template <int kNr, typename Rows>
void GemvColumns(const float* x, int64_t m, const Rows& w, int64_t j, int64_t j_end, int64_t k,
                 const float* bias, float* y, int64_t n) {
  using R = decltype(w.Row(0));
  R w_rows[kNr], next_rows[kNr];
  for (int r = 0; r < kNr; ++r) w_rows[r] = w.Row(j + r);
  const bool prefetch = j + (kPrefetchUnits + 1) * kNr <= j_end;
  if (prefetch) {
    for (int r = 0; r < kNr; ++r) next_rows[r] = w.Row(j + kPrefetchUnits * kNr + r);
  }
  for (int64_t i = 0; i < m; i += kGemvMr) {
    const float* xi = x + i * k;
    float* yi = y + i * n;
    const R* next = prefetch && i == 0 ? next_rows : nullptr;  // once per unit
    switch (std::min(kGemvMr, m - i)) {
      case 1:
        GemvTile<1, kNr>(xi, k, w_rows, next, bias, yi, n);
        break;
      case 2:
        GemvTile<2, kNr>(xi, k, w_rows, next, bias, yi, n);
        break;
      case 3:
        GemvTile<3, kNr>(xi, k, w_rows, next, bias, yi, n);
        break;
      default:
        GemvTile<4, kNr>(xi, k, w_rows, next, bias, yi, n);
        break;
    }
  }
}

template <typename Rows>
void Gemv(const float* x, int64_t m, const Rows& w, int64_t n, int64_t k, const float* bias,
          float* y, ThreadPool& pool) {
  const int64_t units = (n + kGemvNr - 1) / kGemvNr;
  pool.RunRanges(units, [&](int64_t begin, int64_t end, int) {
    const int64_t j_end = std::min(n, end * kGemvNr);
    for (int64_t j = begin * kGemvNr; j < j_end;) {
      const float* b = bias ? bias + j : nullptr;
      if (j + kGemvNr <= j_end) {
        GemvColumns<kGemvNr>(x, m, w, j, j_end, k, b, y + j, n);
        j += kGemvNr;
      } else {
        GemvColumns<1>(x, m, w, j, j_end, k, b, y + j, n);
        j += 1;
      }
    }
  });
}

// Packs rows [block·mb, block·mb + mb) of x transposed: xt[block][p][r] = x[block·mb + r][p],
// zero for rows past m.
inline void PackTransposed(const float* x, int64_t m, int64_t k, int64_t mb, int64_t block,
                           float* xt) {
  float* dst = xt + block * mb * k;
  const int64_t i0 = block * mb, rows = std::min(mb, m - i0);
  constexpr int64_t kChunk = 64;  // columns of x per pass: keeps the written lines in L1
  for (int64_t p0 = 0; p0 < k; p0 += kChunk) {
    const int64_t p1 = std::min(k, p0 + kChunk);
    for (int64_t r = 0; r < mb; ++r) {
      if (r < rows) {
        const float* src = x + (i0 + r) * k;
        for (int64_t p = p0; p < p1; ++p) dst[p * mb + r] = src[p];
      } else {
        for (int64_t p = p0; p < p1; ++p) dst[p * mb + r] = 0.0f;
      }
    }
  }
}

// acc[r][row] (+)= Σ_p xt[p][row] · wt[r][p] over one k panel, for row < kMrv·lanes, r < kGemmNr.
// acc_in (same layout as out, or null for zeros) carries the sums of the previous panels, so each
// element is still summed in one sequential order over k.
template <int kMrv>
HWY_INLINE void GemmTile(const float* HWY_RESTRICT xt, int64_t mb, const float* HWY_RESTRICT wt,
                         int64_t kc, const float* acc_in, float* out) {
  const hn::ScalableTag<float> df;
  using V = hn::Vec<decltype(df)>;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  V acc[kMrv][kGemmNr];
  for (int v = 0; v < kMrv; ++v) {
    for (int r = 0; r < kGemmNr; ++r) {
      acc[v][r] = acc_in ? hn::LoadU(df, acc_in + (r * kMrv + v) * lanes) : hn::Zero(df);
    }
  }
  for (int64_t p = 0; p < kc; ++p) {
    V xv[kMrv];
    for (int v = 0; v < kMrv; ++v) xv[v] = hn::LoadU(df, xt + p * mb + v * lanes);
    for (int r = 0; r < kGemmNr; ++r) {
      const V wb = hn::Set(df, wt[r * kc + p]);
      for (int v = 0; v < kMrv; ++v) acc[v][r] = hn::MulAdd(xv[v], wb, acc[v][r]);
    }
  }
  for (int r = 0; r < kGemmNr; ++r) {
    for (int v = 0; v < kMrv; ++v) hn::StoreU(acc[v][r], df, out + (r * kMrv + v) * lanes);
  }
}

// One block of x rows × one unit of weight rows × one k panel.
struct GemmStep {
  const float* xt;  // [kc][mb] this block's rows of the panel
  int64_t mb, i0, rows;
  const float* wt;  // [kGemmNr][kc] converted weight rows of the panel
  int64_t kc;
  float* partial;  // [kGemmNr][kGemmMaxMrv·lanes] sums carried between panels
  bool first, last;
};

// Runs one step; on the last panel writes y[i0 + row, j0 + r] (+ bias) for r < nr.
inline void GemmBlockUnit(const GemmStep& st, int64_t j0, int64_t nr, const float* bias, float* y,
                          int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t mrv = (st.rows + lanes - 1) / lanes;
  HWY_ALIGN float tmp[kGemmNr * kGemmMaxMrv * HWY_MAX_BYTES / sizeof(float)];
  const float* in = st.first ? nullptr : st.partial;
  float* out = st.last ? tmp : st.partial;
  switch (mrv) {
    case 1:
      GemmTile<1>(st.xt, st.mb, st.wt, st.kc, in, out);
      break;
    case 2:
      GemmTile<2>(st.xt, st.mb, st.wt, st.kc, in, out);
      break;
#if HWY_TARGET <= HWY_AVX3
    case 3:
      GemmTile<3>(st.xt, st.mb, st.wt, st.kc, in, out);
      break;
    case 4:
      GemmTile<4>(st.xt, st.mb, st.wt, st.kc, in, out);
      break;
#endif
  }
  if (!st.last) return;
  for (int64_t r = 0; r < nr; ++r) {
    const float b = bias ? bias[j0 + r] : 0.0f;
    const float* col = tmp + r * mrv * lanes;
    for (int64_t row = 0; row < st.rows; ++row) {
      const float s = col[row];
      y[(st.i0 + row) * n + j0 + r] = bias ? s + b : s;
    }
  }
}

// k panels: at most kGemmMaxPanel long, equal, multiples of 64 (whole quantization blocks).
inline int64_t GemmPanel(int64_t k) {
  const int64_t panels = (k + kGemmMaxPanel - 1) / kGemmMaxPanel;
  return std::max<int64_t>(64, ((k + panels - 1) / panels + 63) / 64 * 64);
}

template <typename Rows>
void Gemm(const float* x, int64_t m, const Rows& w, int64_t n, int64_t k, const float* bias,
          float* y, ThreadPool& pool) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t mb = kGemmMaxMrv * lanes, blocks = (m + mb - 1) / mb;
  thread_local std::vector<float> xt_storage;  // grows to the largest request, then stays
  xt_storage.resize(blocks * mb * k);
  float* xt = xt_storage.data();
  pool.Run(blocks, [&](int64_t b, int) { PackTransposed(x, m, k, mb, b, xt); });
  // Loop order: k panel → group of x blocks whose panel stays in L2 → weight unit (converted once
  // per panel and group) → block. Partial sums wait in a per-thread buffer between panels.
  const int64_t kc = GemmPanel(k);
  const int64_t group = std::max<int64_t>(1, kGemmL2Bytes / (mb * kc * 4));
  const int64_t units = (n + kGemmNr - 1) / kGemmNr, tile = kGemmNr * mb;
  pool.RunRanges(units, [&](int64_t begin, int64_t end, int) {
    thread_local std::vector<float> wt_storage, partial_storage;
    wt_storage.assign(kGemmNr * kc, 0.0f);  // [kGemmNr][kc]
    if (kc < k) partial_storage.resize((end - begin) * blocks * tile);
    float* wt = wt_storage.data();
    for (int64_t p0 = 0; p0 < k; p0 += kc) {
      const int64_t kcur = std::min(kc, k - p0);
      for (int64_t b0 = 0; b0 < blocks; b0 += group) {
        for (int64_t u = begin; u < end; ++u) {
          const int64_t j0 = u * kGemmNr, nr = std::min(kGemmNr, n - j0);
          for (int64_t r = 0; r < nr; ++r) ConvertRangeT(w.Row(j0 + r), p0, kcur, wt + r * kcur);
          if (nr < kGemmNr) std::fill(wt + nr * kcur, wt + kGemmNr * kcur, 0.0f);
          for (int64_t b = b0; b < std::min(blocks, b0 + group); ++b) {
            float* partial =
                kc < k ? partial_storage.data() + ((u - begin) * blocks + b) * tile : nullptr;
            const GemmStep st{xt + b * mb * k + p0 * mb,
                              mb,
                              b * mb,
                              std::min(mb, m - b * mb),
                              wt,
                              kcur,
                              partial,
                              p0 == 0,
                              p0 + kcur >= k};
            GemmBlockUnit(st, j0, nr, bias, y, n);
          }
        }
      }
    }
  });
}

template <typename Rows>
void MatMulRows(const float* x, int64_t m, const Rows& w, int64_t n, int64_t k, const float* bias,
                float* y, ThreadPool& pool) {
  if (m >= kGemmMinRows) {
    Gemm(x, m, w, n, k, bias, y, pool);
  } else {
    Gemv(x, m, w, n, k, bias, y, pool);
  }
}

}  // namespace qwenvl::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // QWENVL_KERNELS_MATMUL_INL_H_
