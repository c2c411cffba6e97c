// bf16 MatMuls for x86: AVX-512 BF16 dot products (vdpbf16ps: 32 products per instruction, twice
// the float32 FMA rate on CPUs that run it at full width) and AMX tiles (tdpbf16ps: a 16×16 block
// of outputs over 32 products each per instruction).
//
// Layouts (a "pair" is two bf16 of consecutive k in one 32-bit lane, as both instructions take
// them):
// - GEMV (m < 8): x rounded to bf16 rows; each 512-bit step multiplies 32 k of one weight row with
//   32 k of one x row, for up to 4 × 4 (x row, weight row) pairs.
// - dot GEMM: x packed per block of 64 rows as [pair][row] (a vector holds one pair of 16 rows);
//   each weight pair is broadcast: 4 × 6 tiles of 16 rows × 1 output each.
// - AMX GEMM: the weights are the A operand (16 weight rows × 32 k, read in place when stored as
//   bf16), x the B operand packed per 16 rows as [k step][pair][row]; C is 16 weight rows × 16 x
//   rows, transposed into y at the end. 2 × 2 C tiles cover 32 weight rows × 32 x rows.
#include "kernels/matmul_bf16.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/gemm_panels.h"
#include "kernels/ops.h"
#include "util/bf16.h"
#include "util/error.h"

#if defined(__x86_64__)
#include <immintrin.h>
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge source, which its
// -Wmaybe-uninitialized then reports at every inlined use: a known false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#define QWENVL_BF16_ATTR \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,f16c")))
#define QWENVL_AMX_ATTR \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,f16c,amx-tile,amx-bf16")))
#endif

namespace qwenvl::kernels {

#if defined(QWENVL_BF16_ATTR)
namespace {

constexpr int64_t kL2Bytes = 1 << 20;  // packed x panels kept in L2 while weights stream by

// out[i·out_stride + p] = bf16(x[i·k + p]) for p < k, zero for k ≤ p < out_stride.
QWENVL_BF16_ATTR void RoundRows(const float* x, int64_t rows, int64_t k, int64_t out_stride,
                                uint16_t* out) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* src = x + i * k;
    uint16_t* dst = out + i * out_stride;
    int64_t p = 0;
    for (; p + 16 <= k; p += 16) {
      const __m256bh b = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + p));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + p), reinterpret_cast<const __m256i&>(b));
    }
    if (p < k) {
      const __mmask16 mask = static_cast<__mmask16>((1u << (k - p)) - 1);
      const __m256bh b = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, src + p));
      _mm256_mask_storeu_epi16(dst + p, mask, reinterpret_cast<const __m256i&>(b));
    }
    std::fill(dst + k, dst + out_stride, uint16_t{0});
  }
}

inline uint32_t LoadPair(const uint16_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Row j of q8/q4 weights as bf16, columns [col0, col0 + n) rounded up to whole blocks (col0 a
// multiple of kQuantBlock; padding columns dequantize to zero): scale·q rounded to nearest even,
// one block of 32 per step with no float32 buffer in between.
QWENVL_BF16_ATTR void DequantizeBf16(const WeightView& w, int64_t j, int64_t col0, int64_t n,
                                     uint16_t* dst) {
  const QuantLayout l = QuantLayoutOf(w.type, w.rows, w.cols);
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  const uint16_t* scales = reinterpret_cast<const uint16_t*>(base + l.scales_offset) + j * l.blocks;
  const uint8_t* row = base + j * l.row_bytes;
  const bool q4 = w.type == WeightFormat::kQ4;
  const int64_t b0 = col0 / kQuantBlock, b1 = (col0 + n + kQuantBlock - 1) / kQuantBlock;
  for (int64_t b = b0; b < b1; ++b) {
    __m512i lo, hi;  // elements 0-15 and 16-31 of the block as int32
    if (!q4) {
      const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + b * 32));
      const __m512i offset = _mm512_set1_epi32(128);
      lo = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(u)), offset);
      hi = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(u, 1)), offset);
    } else {
      const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + b * 16));
      const __m128i nibble = _mm_set1_epi8(0x0f);
      const __m512i offset = _mm512_set1_epi32(8);
      lo = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(bytes, nibble)), offset);
      hi = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(bytes, 4), nibble)),
                            offset);
    }
    const __m512 s = _mm512_set1_ps(_cvtsh_ss(scales[b]));
    const __m512bh both = _mm512_cvtne2ps_pbh(_mm512_mul_ps(_mm512_cvtepi32_ps(hi), s),
                                              _mm512_mul_ps(_mm512_cvtepi32_ps(lo), s));
    _mm512_storeu_si512(dst + (b - b0) * kQuantBlock, reinterpret_cast<const __m512i&>(both));
  }
}

// Asks for the bytes of weight rows [j0, j0 + rows) at columns [col0, col0 + n) (rows past the
// matrix left out) to be brought into L2 ahead of their use: the next unit's, while this one is
// converted and multiplied. Each row's range is a short stream of its own (1-2 KiB) and the
// hardware prefetchers take each one up only after its first misses; a unit of 32 rows then waits
// on 32 cold starts.
void PrefetchWeightRows(const WeightView& w, int64_t j0, int64_t rows, int64_t col0, int64_t n) {
  const WeightFormatTraits& t = TraitsOf(w.type);
  const int64_t row_bytes = t.quantized ? QuantLayoutOf(w.type, w.rows, w.cols).row_bytes
                                        : WeightRowBytes(w.type, w.cols);
  const int64_t begin = col0 / t.block_cols * t.block_bytes;
  const int64_t end =
      std::min(row_bytes, (col0 + n + t.block_cols - 1) / t.block_cols * t.block_bytes);
  const char* base = static_cast<const char*>(w.data);
  for (int64_t j = j0; j < std::min(j0 + rows, w.rows); ++j) {
    for (int64_t b = begin; b < end; b += 64) _mm_prefetch(base + j * row_bytes + b, _MM_HINT_T1);
  }
}

// Row j of w as bf16 at columns [col0, col0 + n): in place for bf16 weights, else converted into
// buf (quantized rows: whole blocks, so buf holds n rounded up to kQuantBlock; others through
// float32 scratch in `tmp`).
const uint16_t* Bf16Range(const WeightView& w, int64_t j, int64_t col0, int64_t n, uint16_t* buf,
                          std::vector<float>& tmp) {
  if (w.type == WeightFormat::kBF16)
    return static_cast<const uint16_t*>(w.data) + j * w.cols + col0;
  if (IsQuantized(w.type)) {
    DequantizeBf16(w, j, col0, n, buf);
    return buf;
  }
  tmp.resize(n);
  ConvertWeightRange(w, j, col0, n, tmp.data());
  RoundRows(tmp.data(), 1, n, n, buf);
  return buf;
}

// ---- GEMV ----

constexpr int64_t kGemvNr = 4;  // weight rows per tile and per thread unit

// out[i·kGemvNr + r] = Σ_p xb[i][p] · w[r][p], i < kMr, r < kNr.
template <int kMr, int kNr>
QWENVL_BF16_ATTR void GemvTile(const uint16_t* xb, int64_t xs, const uint16_t* const* w, int64_t k,
                               const uint16_t* const* next, float* out) {
  __m512 acc[kMr][kNr];
  for (int i = 0; i < kMr; ++i) {
    for (int r = 0; r < kNr; ++r) acc[i][r] = _mm512_setzero_ps();
  }
  int64_t p = 0;
  for (; p + 32 <= k; p += 32) {
    __m512i wv[kNr];
    for (int r = 0; r < kNr; ++r) {
      if (next != nullptr) _mm_prefetch(reinterpret_cast<const char*>(next[r] + p), _MM_HINT_T0);
      wv[r] = _mm512_loadu_si512(w[r] + p);
    }
    for (int i = 0; i < kMr; ++i) {
      const __m512i xv = _mm512_loadu_si512(xb + i * xs + p);
      for (int r = 0; r < kNr; ++r) {
        acc[i][r] = _mm512_dpbf16_ps(acc[i][r], reinterpret_cast<const __m512bh&>(xv),
                                     reinterpret_cast<const __m512bh&>(wv[r]));
      }
    }
  }
  if (p < k) {
    const __mmask32 mask = static_cast<__mmask32>((uint64_t{1} << (k - p)) - 1);
    __m512i wv[kNr];
    for (int r = 0; r < kNr; ++r) wv[r] = _mm512_maskz_loadu_epi16(mask, w[r] + p);
    for (int i = 0; i < kMr; ++i) {
      const __m512i xv = _mm512_maskz_loadu_epi16(mask, xb + i * xs + p);
      for (int r = 0; r < kNr; ++r) {
        acc[i][r] = _mm512_dpbf16_ps(acc[i][r], reinterpret_cast<const __m512bh&>(xv),
                                     reinterpret_cast<const __m512bh&>(wv[r]));
      }
    }
  }
  for (int i = 0; i < kMr; ++i) {
    for (int r = 0; r < kNr; ++r) out[i * kGemvNr + r] = _mm512_reduce_add_ps(acc[i][r]);
  }
}

template <int kNr>
QWENVL_BF16_ATTR void GemvColumns(const uint16_t* xb, int64_t xs, int64_t m,
                                  const uint16_t* const* w, int64_t k, const uint16_t* const* next,
                                  float* out) {
  for (int64_t i = 0; i < m; i += 4) {
    const uint16_t* xi = xb + i * xs;
    const uint16_t* const* pf = i == 0 ? next : nullptr;  // once per unit
    float* o = out + i * kGemvNr;
    switch (std::min<int64_t>(4, m - i)) {
      case 1:
        GemvTile<1, kNr>(xi, xs, w, k, pf, o);
        break;
      case 2:
        GemvTile<2, kNr>(xi, xs, w, k, pf, o);
        break;
      case 3:
        GemvTile<3, kNr>(xi, xs, w, k, pf, o);
        break;
      default:
        GemvTile<4, kNr>(xi, xs, w, k, pf, o);
        break;
    }
  }
}

// ---- dot GEMM ----

constexpr int64_t kDotMrv = 4;            // vectors of 16 x rows per block
constexpr int64_t kDotMb = kDotMrv * 16;  // x rows per block
constexpr int64_t kDotNr = 6;             // weight rows per unit: 4 × 6 accumulators
constexpr int64_t kDotMaxPanelPairs = 1024;

// acc[r][row] (+)= Σ_p xt[p][row] · w[r][p] over one panel of pairs, row < kMrv·16.
template <int kMrv>
QWENVL_BF16_ATTR void DotTile(const uint32_t* xt, const uint32_t* const* w, int64_t kc,
                              const float* acc_in, float* out) {
  __m512 acc[kMrv][kDotNr];
  for (int v = 0; v < kMrv; ++v) {
    for (int r = 0; r < kDotNr; ++r) {
      acc[v][r] = acc_in ? _mm512_loadu_ps(acc_in + (r * kDotMrv + v) * 16) : _mm512_setzero_ps();
    }
  }
  for (int64_t p = 0; p < kc; ++p) {
    __m512i xv[kMrv];
    for (int v = 0; v < kMrv; ++v) xv[v] = _mm512_loadu_si512(xt + p * kDotMb + v * 16);
    for (int r = 0; r < kDotNr; ++r) {
      uint32_t pair;
      std::memcpy(&pair, w[r] + p, 4);
      const __m512i wb = _mm512_set1_epi32(static_cast<int>(pair));
      for (int v = 0; v < kMrv; ++v) {
        acc[v][r] = _mm512_dpbf16_ps(acc[v][r], reinterpret_cast<const __m512bh&>(xv[v]),
                                     reinterpret_cast<const __m512bh&>(wb));
      }
    }
  }
  for (int r = 0; r < kDotNr; ++r) {
    for (int v = 0; v < kMrv; ++v) _mm512_storeu_ps(out + (r * kDotMrv + v) * 16, acc[v][r]);
  }
}

// xt[block][pair][row] for one block of kDotMb rows: the pairs of rows [b·mb, b·mb + mb) of the
// bf16 rows xb (stride xs, even), zero past m.
void PackPairs(const uint16_t* xb, int64_t xs, int64_t m, int64_t k2, int64_t b, uint32_t* xt) {
  uint32_t* dst = xt + b * kDotMb * k2;
  const int64_t i0 = b * kDotMb, rows = std::min(kDotMb, m - i0);
  for (int64_t r = 0; r < kDotMb; ++r) {
    if (r < rows) {
      const uint16_t* src = xb + (i0 + r) * xs;
      for (int64_t p = 0; p < k2; ++p) dst[p * kDotMb + r] = LoadPair(src + 2 * p);
    } else {
      for (int64_t p = 0; p < k2; ++p) dst[p * kDotMb + r] = 0;
    }
  }
}

QWENVL_BF16_ATTR void GemmDot(const float* x, int64_t m, const WeightView& w, const float* bias,
                              float* y, ThreadPool& pool) {
  const int64_t n = w.rows, k = w.cols, k2 = (k + 1) / 2, xs = 2 * k2;
  const int64_t blocks = (m + kDotMb - 1) / kDotMb;
  thread_local std::vector<uint16_t> xb_storage;  // the caller's; workers read it by reference
  thread_local std::vector<uint32_t> xt_storage;
  xb_storage.resize(m * xs);
  xt_storage.resize(blocks * kDotMb * k2);
  uint16_t* xb = xb_storage.data();
  uint32_t* xt = xt_storage.data();
  pool.RunRanges(m, [&](int64_t begin, int64_t end, int) {
    RoundRows(x + begin * k, end - begin, k, xs, xb + begin * xs);
  });
  pool.Run(blocks, [&](int64_t b, int) { PackPairs(xb, xs, m, k2, b, xt); });
  PanelPlan plan;
  plan.blocks = blocks;
  plan.units = (n + kDotNr - 1) / kDotNr;
  plan.k = k2;
  plan.kc = EqualPanel(k2, kDotMaxPanelPairs, 32);  // whole 64-column blocks of quantized rows
  plan.group = GroupFor(kDotMb * plan.kc * 4, kL2Bytes);
  plan.partial_floats = kDotNr * kDotMb;
  const bool in_place = w.type == WeightFormat::kBF16 && k % 2 == 0;
  pool.RunRanges(plan.units, [&](int64_t begin, int64_t end, int) {
    thread_local std::vector<uint16_t> unit_storage;
    thread_local std::vector<float> tmp;
    const uint32_t* rows[kDotNr];
    int64_t nr = 0;
    const auto prepare = [&](int64_t u, int64_t p0, int64_t kc) {
      const int64_t j0 = u * kDotNr;
      nr = std::min(kDotNr, n - j0);
      PrefetchWeightRows(w, j0 + kDotNr, kDotNr, 2 * p0, 2 * kc);
      // Rows of whole quantized blocks: a dequantized row ends on a block boundary.
      const int64_t stride = (2 * kc + kQuantBlock - 1) / kQuantBlock * kQuantBlock;
      if (!in_place) unit_storage.assign(kDotNr * stride, 0);
      for (int64_t r = 0; r < kDotNr; ++r) {
        const int64_t j = j0 + std::min(r, nr - 1);  // rows past n repeat the last; not written
        if (in_place) {
          rows[r] = reinterpret_cast<const uint32_t*>(static_cast<const uint16_t*>(w.data) + j * k +
                                                      2 * p0);
        } else {
          uint16_t* dst = unit_storage.data() + r * stride;
          const int64_t cols = std::min(2 * kc, k - 2 * p0);
          const uint16_t* src = Bf16Range(w, j, 2 * p0, cols, dst, tmp);
          if (src != dst) std::memcpy(dst, src, cols * 2);
          rows[r] = reinterpret_cast<const uint32_t*>(dst);
        }
      }
    };
    const auto step = [&](const PanelStep& s) {
      const int64_t i0 = s.block * kDotMb, block_rows = std::min(kDotMb, m - i0);
      const uint32_t* xp = xt + s.block * kDotMb * k2 + s.p0 * kDotMb;
      alignas(64) float tmp_out[kDotNr * kDotMb];
      float* out = s.last ? tmp_out : s.partial;
      const float* in = s.first ? nullptr : s.partial;
      switch ((block_rows + 15) / 16) {
        case 1:
          DotTile<1>(xp, rows, s.kc, in, out);
          break;
        case 2:
          DotTile<2>(xp, rows, s.kc, in, out);
          break;
        case 3:
          DotTile<3>(xp, rows, s.kc, in, out);
          break;
        default:
          DotTile<4>(xp, rows, s.kc, in, out);
          break;
      }
      if (s.last) StoreColumnTile(tmp_out, kDotMb, block_rows, nr, i0, s.unit * kDotNr, bias, y, n);
    };
    RunPanelRange(plan, begin, end, prepare, step);
  });
}

// ---- AMX GEMM ----

constexpr int64_t kAmxK = 32;           // k per tile step (16 pairs)
constexpr int64_t kAmxRows = 32;        // x rows per block (2 B tiles) and weight rows per unit
constexpr int64_t kAmxMaxPanel = 1024;  // k per panel
constexpr int64_t kAmxL2Bytes = 2 << 20;

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Tiles 0-3: C (16 × 16 float); 4-5: A (16 weight rows × 32 bf16); 6-7: B (16 pairs × 16 x rows).
QWENVL_AMX_ATTR void ConfigureTiles() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  // Not _tile_loadconfig: GCC 12's version tells the compiler it reads 8 bytes, so the stores
  // that fill the rest of cfg may be dropped. This operand covers all 64.
  __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
}

QWENVL_AMX_ATTR void ReleaseTiles() { _tile_release(); }

// Transposes the 16 × 16 32-bit matrix held in r[0..15] (row i in r[i]) in place.
QWENVL_BF16_ATTR inline void Transpose16x16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // Each 128-bit lane now holds a 4 × 4 block; gather the lanes.
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xdd);
  }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
  }
}

// xp[(g·steps + s)·256 + pr·16 + r] = pair pr of k step s of row 16·g + r (zero past m; the rows
// are zero-padded past k): the B operand of 16 x rows for every k step, 1 KiB each.
QWENVL_BF16_ATTR void PackAmxRows(const uint16_t* xb, int64_t xs, int64_t m, int64_t steps,
                                  int64_t g, uint32_t* xp) {
  uint32_t* dst = xp + g * steps * 256;
  for (int64_t s = 0; s < steps; ++s) {
    __m512i rows[16];
    for (int64_t r = 0; r < 16; ++r) {
      const int64_t i = 16 * g + r;
      rows[r] = i < m ? _mm512_loadu_si512(xb + i * xs + s * kAmxK) : _mm512_setzero_si512();
    }
    Transpose16x16(rows);
    for (int64_t pr = 0; pr < 16; ++pr) _mm512_storeu_si512(dst + s * 256 + pr * 16, rows[pr]);
  }
}

// y[i0 + xr, j0 + wr] = tile[wr][xr] (+ bias[j0 + wr]) for xr < x_rows, wr < w_rows: a finished
// C tile (16 weight rows × 16 x rows) transposed into y.
QWENVL_BF16_ATTR void StoreAmxTile(const float* tile, int64_t x_rows, int64_t w_rows, int64_t i0,
                                   int64_t j0, const float* bias, float* y, int64_t n) {
  __m512i c[16];
  for (int wr = 0; wr < 16; ++wr) c[wr] = _mm512_loadu_si512(tile + wr * 16);
  Transpose16x16(c);
  const __mmask16 mask = static_cast<__mmask16>((1u << w_rows) - 1);
  const __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + j0) : _mm512_setzero_ps();
  for (int64_t xr = 0; xr < x_rows; ++xr) {
    _mm512_mask_storeu_ps(y + (i0 + xr) * n + j0, mask,
                          _mm512_add_ps(_mm512_castsi512_ps(c[xr]), b));
  }
}

// C tiles (+)= A (32 weight rows at a, stride a_stride bytes) · B (two 16-row groups at b0, b1)
// over kc/32 steps; the C tiles come from and go to acc [4][16][16] (null in: start at zero).
QWENVL_AMX_ATTR void AmxTile(const uint16_t* a, int64_t a_stride, const uint32_t* b0,
                             const uint32_t* b1, int64_t steps, const float* acc_in, float* out) {
  if (acc_in) {
    _tile_loadd(0, acc_in, 64);
    _tile_loadd(1, acc_in + 256, 64);
    _tile_loadd(2, acc_in + 512, 64);
    _tile_loadd(3, acc_in + 768, 64);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  const int64_t a_half = 16 * a_stride / 2;  // 16 weight rows, in bf16 elements
  for (int64_t s = 0; s < steps; ++s) {
    _tile_loadd(4, a + s * kAmxK, a_stride);
    _tile_loadd(5, a + a_half + s * kAmxK, a_stride);
    _tile_loadd(6, b0 + s * 256, 64);
    _tile_loadd(7, b1 + s * 256, 64);
    _tile_dpbf16ps(0, 4, 6);  // weight rows 0-15 × x rows 0-15
    _tile_dpbf16ps(1, 4, 7);  // weight rows 0-15 × x rows 16-31
    _tile_dpbf16ps(2, 5, 6);  // weight rows 16-31 × x rows 0-15
    _tile_dpbf16ps(3, 5, 7);  // weight rows 16-31 × x rows 16-31
  }
  _tile_stored(0, out, 64);
  _tile_stored(1, out + 256, 64);
  _tile_stored(2, out + 512, 64);
  _tile_stored(3, out + 768, 64);
}

QWENVL_AMX_ATTR void GemmAmx(const float* x, int64_t m, const WeightView& w, const float* bias,
                             float* y, ThreadPool& pool) {
  const int64_t n = w.rows, k = w.cols;
  const int64_t steps = (k + kAmxK - 1) / kAmxK, kpad = steps * kAmxK;
  const int64_t blocks = (m + kAmxRows - 1) / kAmxRows;
  thread_local std::vector<uint16_t> xb_storage;  // the caller's; workers read it by reference
  thread_local std::vector<uint32_t> xp_storage;
  xb_storage.resize(m * kpad);
  xp_storage.resize((2 * blocks) * steps * 256);
  uint16_t* xb = xb_storage.data();
  uint32_t* xp = xp_storage.data();
  pool.RunRanges(m, [&](int64_t begin, int64_t end, int) {
    RoundRows(x + begin * k, end - begin, k, kpad, xb + begin * kpad);
  });
  pool.Run(2 * blocks, [&](int64_t g, int) { PackAmxRows(xb, kpad, m, steps, g, xp); });
  PanelPlan plan;
  plan.blocks = blocks;
  plan.units = (n + kAmxRows - 1) / kAmxRows;
  plan.k = steps;
  plan.kc = EqualPanel(steps, kAmxMaxPanel / kAmxK, 2);  // whole 64-column quantized blocks
  // AMX runs on Intel Xeons with 2 MiB of L2 per core: a larger group converts a unit of q8/q4
  // weights fewer times.
  plan.group = GroupFor(kAmxRows * plan.kc * kAmxK * 2, kAmxL2Bytes);
  plan.partial_floats = kAmxRows * kAmxRows;
  // Weights are read in place when every tile row lies inside the matrix: bf16, whole k steps.
  const bool in_place_type = w.type == WeightFormat::kBF16 && k % kAmxK == 0;
  pool.RunRanges(plan.units, [&](int64_t begin, int64_t end, int) {
    thread_local std::vector<uint16_t> unit_storage;
    thread_local std::vector<float> tmp;
    const uint16_t* a = nullptr;
    int64_t a_stride = 0, nr = 0;
    const auto prepare = [&](int64_t u, int64_t p0, int64_t kc) {
      const int64_t j0 = u * kAmxRows;
      nr = std::min(kAmxRows, n - j0);
      PrefetchWeightRows(w, j0 + kAmxRows, kAmxRows, p0 * kAmxK, kc * kAmxK);
      if (in_place_type && nr == kAmxRows) {
        a = static_cast<const uint16_t*>(w.data) + j0 * k + p0 * kAmxK;
        a_stride = k * 2;
        return;
      }
      const int64_t cols = kc * kAmxK, valid = std::min(cols, k - p0 * kAmxK);
      unit_storage.resize(kAmxRows * cols);
      for (int64_t r = 0; r < kAmxRows; ++r) {
        uint16_t* dst = unit_storage.data() + r * cols;
        if (r >= nr) {  // rows past n: zero
          std::fill(dst, dst + cols, uint16_t{0});
          continue;
        }
        const uint16_t* src = Bf16Range(w, j0 + r, p0 * kAmxK, valid, dst, tmp);
        if (src != dst) std::memcpy(dst, src, valid * 2);
        // Columns past k: zero (a quantized row wrote whole blocks, already zero past k).
        const int64_t written =
            IsQuantized(w.type) ? (valid + kQuantBlock - 1) / kQuantBlock * kQuantBlock : valid;
        std::fill(dst + written, dst + cols, uint16_t{0});
      }
      a = unit_storage.data();
      a_stride = cols * 2;
    };
    const auto step = [&](const PanelStep& s) {
      alignas(64) float tile_out[kAmxRows * kAmxRows];
      float* out = s.last ? tile_out : s.partial;
      const float* in = s.first ? nullptr : s.partial;
      const uint32_t* b0 = xp + (2 * s.block) * steps * 256 + s.p0 * 256;
      AmxTile(a, a_stride, b0, b0 + steps * 256, s.kc, in, out);
      if (!s.last) return;
      const int64_t i0 = s.block * kAmxRows, j0 = s.unit * kAmxRows;
      const int64_t block_rows = std::min(kAmxRows, m - i0);
      for (int64_t t = 0; t < 4; ++t) {
        const int64_t wr0 = (t / 2) * 16, xr0 = (t % 2) * 16;  // C tile t's weight / x rows
        const int64_t x_rows = std::min<int64_t>(16, block_rows - xr0);
        const int64_t w_rows = std::min<int64_t>(16, nr - wr0);
        if (x_rows > 0 && w_rows > 0) {
          StoreAmxTile(tile_out + t * 256, x_rows, w_rows, i0 + xr0, j0 + wr0, bias, y, n);
        }
      }
    };
    ConfigureTiles();
    RunPanelRange(plan, begin, end, prepare, step);
    ReleaseTiles();
  });
}

}  // namespace

void MatMulBf16Dot(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
                   ThreadPool& pool) {
  if (m < 8) return GemvBf16Dot(x, m, w, bias, y, pool);
  GemmDot(x, m, w, bias, y, pool);
}

QWENVL_BF16_ATTR void GemvBf16Dot(const float* x, int64_t m, const WeightView& w, const float* bias,
                                  float* y, ThreadPool& pool) {
  QWENVL_CHECK(w.type == WeightFormat::kBF16 && m < 8);
  const int64_t n = w.rows, k = w.cols, xs = (k + 31) / 32 * 32;
  thread_local std::vector<uint16_t> xb_storage;  // the caller's; workers read it by reference
  xb_storage.resize(m * xs);
  uint16_t* xb = xb_storage.data();
  RoundRows(x, m, k, xs, xb);
  const uint16_t* base = static_cast<const uint16_t*>(w.data);
  constexpr int64_t kPrefetchUnits = 1;
  const int64_t units = (n + kGemvNr - 1) / kGemvNr;
  pool.RunRanges(units, [&](int64_t begin, int64_t end, int) {
    float out[8 * kGemvNr];
    const int64_t j_end = std::min(n, end * kGemvNr);
    for (int64_t j = begin * kGemvNr; j < j_end;) {
      const int64_t nr = j + kGemvNr <= j_end ? kGemvNr : 1;
      const uint16_t* rows[kGemvNr];
      const uint16_t* next[kGemvNr];
      const bool prefetch = j + (kPrefetchUnits + 1) * nr <= j_end;
      for (int64_t r = 0; r < nr; ++r) {
        rows[r] = base + (j + r) * k;
        next[r] = prefetch ? rows[r] + kPrefetchUnits * nr * k : rows[r];  // inside the matrix
      }
      if (nr == kGemvNr) {
        GemvColumns<kGemvNr>(xb, xs, m, rows, k, prefetch ? next : nullptr, out);
      } else {
        GemvColumns<1>(xb, xs, m, rows, k, prefetch ? next : nullptr, out);
      }
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t r = 0; r < nr; ++r) {
          y[i * n + j + r] = out[i * kGemvNr + r] + (bias ? bias[j + r] : 0.0f);
        }
      }
      j += nr;
    }
  });
}

void MatMulAmxBf16(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
                   ThreadPool& pool) {
  QWENVL_CHECK(m >= 8);
  GemmAmx(x, m, w, bias, y, pool);
}

QWENVL_BF16_ATTR void RoundThroughBf16(const float* x, int64_t n, float* out) {
  int64_t p = 0;
  for (; p + 16 <= n; p += 16) {
    const __m256bh b = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + p));
    const __m512i wide =
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(reinterpret_cast<const __m256i&>(b)), 16);
    _mm512_storeu_ps(out + p, _mm512_castsi512_ps(wide));
  }
  if (p < n) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (n - p)) - 1);
    const __m256bh b = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, x + p));
    const __m512i wide =
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(reinterpret_cast<const __m256i&>(b)), 16);
    _mm512_mask_storeu_ps(out + p, mask, _mm512_castsi512_ps(wide));
  }
}

#else  // not x86: never called (MatMulKernelRuns is false)

void MatMulBf16Dot(const float*, int64_t, const WeightView&, const float*, float*, ThreadPool&) {}
void GemvBf16Dot(const float*, int64_t, const WeightView&, const float*, float*, ThreadPool&) {}
void MatMulAmxBf16(const float*, int64_t, const WeightView&, const float*, float*, ThreadPool&) {}
void RoundThroughBf16(const float* x, int64_t n, float* out) {
  for (int64_t p = 0; p < n; ++p) out[p] = Bf16ToF32(F32ToBf16(x[p]));
}

#endif

}  // namespace qwenvl::kernels
