// AVX-512 VNNI decode MatMul for kQ8 and kQ4 weights. vpdpbusd multiplies unsigned by signed
// bytes: the weights are stored unsigned with an offset o (q8: u = q + 128, q4: u = q + 8;
// dtype.h), the activations are signed int8, and the offset is removed with the activations'
// block sums:  Σ_i q_i·x_i = Σ_i u_i·x_i − o·Σ_i x_i.
// One 64-weight vector covers two blocks (a pair), each block summed by 8 of the 16 int32 lanes
// (LaneBlock), so the per-lane float update is  acc += (sx·dot − sx·(o/8)·Σx) · sw.
#include "kernels/quant_vnni.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/int8_block.h"
#include "util/error.h"

#if defined(__x86_64__)  // as QuantizeInt8Block32
#include <immintrin.h>
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge source, which its
// -Wmaybe-uninitialized then reports at every inlined use: a known false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#define QWENVL_VNNI_ATTR \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,f16c")))
#endif

namespace qwenvl::kernels {

#if defined(QWENVL_VNNI_ATTR)
namespace {

constexpr int64_t kNr = 4;             // weight rows per tile and per thread unit
constexpr int64_t kMaxRows = 16;       // activation rows per call (decode sizes)
constexpr int64_t kPrefetchUnits = 2;  // rows are prefetched this many units ahead

// What TileQuant prefetches for a later unit: its weight rows and their block scales.
struct UnitPrefetch {
  const uint8_t* rows[kNr];
  const uint16_t* scales[kNr];
};

// Which of a pair's two blocks each of the 16 int32 lanes of a dot product sums (0: block 2p, 1:
// 2p + 1). q8 weights are read as stored, [2p: 0-31 | 2p + 1: 0-31]. q4 weights are unpacked
// without moving bytes across 128-bit lanes: the 32 stored bytes are broadcast to both halves of
// the vector, the upper half shifted down by a nibble, giving [2p: 0-15 | 2p + 1: 0-15 | 2p:
// 16-31 | 2p + 1: 16-31]; the activations are stored in that order instead.
template <bool kQ4>
constexpr int LaneBlock(int lane) {
  return kQ4 ? (lane / 4) % 2 : lane / 8;
}

// Where element t of block `half` (0 or 1) of a pair sits among the pair's 64 bytes.
template <bool kQ4>
constexpr int PairByte(int half, int t) {
  return kQ4 ? (t / 16) * 32 + half * 16 + t % 16 : half * 32 + t;
}

// One activation row quantized per block, with per-pair lane vectors of its scales.
struct QuantizedRows {
  std::vector<int8_t> q;      // [m][pairs·64], each pair in the weights' order (PairByte)
  std::vector<float> scale;   // [m][pairs][16]: sx of the lane's block
  std::vector<float> offset;  // [m][pairs][16]: sx·(o/8)·Σx of the lane's block
  int64_t pairs = 0;
};

static_assert(kQuantBlock == 32, "QuantizeInt8Block32 quantizes blocks of 32");

// offset_per_lane = o / 8: the weight offset spread over the 8 lanes of a block.
template <bool kQ4>
QWENVL_VNNI_ATTR void QuantizeActivations(const float* x, int64_t m, int64_t k,
                                          float offset_per_lane, QuantizedRows& qr) {
  qr.pairs = (k + 2 * kQuantBlock - 1) / (2 * kQuantBlock);
  qr.q.assign(m * qr.pairs * 64, 0);  // an odd last block leaves its pair's second half 0
  qr.scale.assign(m * qr.pairs * 16, 0.0f);
  qr.offset.assign(m * qr.pairs * 16, 0.0f);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t b = 0; b * kQuantBlock < k; ++b) {
      const int64_t n = std::min(kQuantBlock, k - b * kQuantBlock);
      const int half = static_cast<int>(b % 2);
      int8_t* pair = qr.q.data() + (i * qr.pairs + b / 2) * 64;
      Int8Block blk;
      if constexpr (kQ4) {
        int8_t tmp[kQuantBlock];
        blk = QuantizeInt8Block32(x + i * k + b * kQuantBlock, n, tmp);
        std::memcpy(pair + PairByte<true>(half, 0), tmp, 16);
        std::memcpy(pair + PairByte<true>(half, 16), tmp + 16, 16);
      } else {
        blk = QuantizeInt8Block32(x + i * k + b * kQuantBlock, n, pair + PairByte<false>(half, 0));
      }
      float* sv = qr.scale.data() + (i * qr.pairs + b / 2) * 16;
      float* ov = qr.offset.data() + (i * qr.pairs + b / 2) * 16;
      for (int lane = 0; lane < 16; ++lane) {
        if (LaneBlock<kQ4>(lane) != half) continue;
        sv[lane] = blk.scale;
        ov[lane] = blk.scale * offset_per_lane * static_cast<float>(blk.sum);
      }
    }
  }
}

// The 64 unsigned weights of blocks 2p and 2p + 1 of a row, in the order of PairByte (zero past
// the last block).
template <bool kQ4>
QWENVL_VNNI_ATTR inline __m512i LoadPair(const uint8_t* row, int64_t p, bool odd_tail) {
  if constexpr (!kQ4) {
    return _mm512_maskz_loadu_epi8(odd_tail ? 0xffffffffull : ~0ull, row + p * 64);
  } else {
    // 32 bytes: block 2p in bytes 0-15 (elements 0-15 low nibbles, 16-31 high), 2p + 1 in 16-31.
    const __m256i b = odd_tail ? _mm256_maskz_loadu_epi8(0xffffu, row + p * 32)
                               : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + p * 32));
    const __m512i z = _mm512_broadcast_i64x4(b);
    const __m512i shifted = _mm512_mask_srli_epi16(z, 0xffff0000u, z, 4);
    return _mm512_and_si512(shifted, _mm512_set1_epi8(0x0f));
  }
}

// The permutation that spreads the float scales of blocks 2j and 2j + 1 (of a vector of 16
// consecutive block scales) over the lanes of pair j is this plus 2j.
template <bool kQ4>
QWENVL_VNNI_ATTR inline __m512i ScaleIndexBase() {
  alignas(64) int32_t idx[16];
  for (int lane = 0; lane < 16; ++lane) idx[lane] = LaneBlock<kQ4>(lane);
  return _mm512_load_si512(idx);
}

// y[i, r] for i < kMr, r < nr_tile (kNr or 1): weight rows u[r] with scales sw[r].
// When next is not null, the rows and block scales of a later unit of the thread are prefetched
// along the way: the hardware prefetcher does not cross 4 KiB pages, and a row is about one page.
// The scales are read at the start of each group of 8 pairs, which waits for them: without
// their prefetch, decode ran at 60 % of the speed of reading them one pair at a time.
// The float16 block scales are converted 16 at a time (8 pairs) and spread over each pair's lanes
// with one permutation.
template <bool kQ4, int kMr, int kNrTile>
QWENVL_VNNI_ATTR void TileQuant(const QuantizedRows& qr, int64_t i0, int64_t blocks,
                                const uint8_t* const* u, const uint16_t* const* sw,
                                const UnitPrefetch* next, float* out) {
  __m512 acc[kMr][kNrTile];
  for (int i = 0; i < kMr; ++i) {
    for (int r = 0; r < kNrTile; ++r) acc[i][r] = _mm512_setzero_ps();
  }
  const __m512i idx_base = ScaleIndexBase<kQ4>();
  for (int64_t p0 = 0; p0 < qr.pairs; p0 += 8) {
    const int64_t b0 = 2 * p0, nb = std::min<int64_t>(16, blocks - b0);
    const __mmask16 scale_mask = static_cast<__mmask16>((1u << nb) - 1);
    __m512 scales[kNrTile];
    if (next != nullptr && p0 % 16 == 0) {  // 32 blocks' scales: one 64-byte line
      for (int r = 0; r < kNrTile; ++r) _mm_prefetch(next->scales[r] + b0, _MM_HINT_T0);
    }
    for (int r = 0; r < kNrTile; ++r) {
      scales[r] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(scale_mask, sw[r] + b0));
    }
    __m512i idx = idx_base;
    const int64_t p1 = std::min(qr.pairs, p0 + 8);
    for (int64_t p = p0; p < p1; ++p, idx = _mm512_add_epi32(idx, _mm512_set1_epi32(2))) {
      const bool odd_tail = 2 * p + 1 >= blocks;  // the second block of this pair does not exist
      __m512i wv[kNrTile];
      __m512 swv[kNrTile];
      if (next != nullptr && (!kQ4 || p % 2 == 0)) {  // one 64-byte line per step
        for (int r = 0; r < kNrTile; ++r) {
          _mm_prefetch(next->rows[r] + p * (kQ4 ? 32 : 64), _MM_HINT_T0);
        }
      }
      for (int r = 0; r < kNrTile; ++r) {
        wv[r] = LoadPair<kQ4>(u[r], p, odd_tail);
        swv[r] = _mm512_permutexvar_ps(idx, scales[r]);
      }
      for (int i = 0; i < kMr; ++i) {
        const int64_t row = (i0 + i) * qr.pairs + p;
        const __m512i xv = _mm512_loadu_si512(qr.q.data() + row * 64);
        const __m512 sx = _mm512_loadu_ps(qr.scale.data() + row * 16);
        const __m512 off = _mm512_loadu_ps(qr.offset.data() + row * 16);
        for (int r = 0; r < kNrTile; ++r) {
          const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv[r], xv);
          const __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(dot), sx, off);
          acc[i][r] = _mm512_fmadd_ps(t, swv[r], acc[i][r]);
        }
      }
    }
  }
  for (int i = 0; i < kMr; ++i) {
    for (int r = 0; r < kNrTile; ++r) out[i * kNr + r] = _mm512_reduce_add_ps(acc[i][r]);
  }
}

template <bool kQ4, int kNrTile>
QWENVL_VNNI_ATTR void ColumnsQuant(const QuantizedRows& qr, int64_t m, int64_t blocks,
                                   const uint8_t* const* u, const uint16_t* const* sw,
                                   const UnitPrefetch* next, float* out) {
  for (int64_t i = 0; i < m; i += 4) {
    const UnitPrefetch* pf = i == 0 ? next : nullptr;  // once per unit
    switch (std::min<int64_t>(4, m - i)) {
      case 1:
        TileQuant<kQ4, 1, kNrTile>(qr, i, blocks, u, sw, pf, out + i * kNr);
        break;
      case 2:
        TileQuant<kQ4, 2, kNrTile>(qr, i, blocks, u, sw, pf, out + i * kNr);
        break;
      case 3:
        TileQuant<kQ4, 3, kNrTile>(qr, i, blocks, u, sw, pf, out + i * kNr);
        break;
      default:
        TileQuant<kQ4, 4, kNrTile>(qr, i, blocks, u, sw, pf, out + i * kNr);
        break;
    }
  }
}

// Rows [j_begin, j_end) of one product (j_begin a multiple of kNr; the last unit of a product
// whose rows are not a multiple of kNr takes its leftover rows one at a time).
QWENVL_VNNI_ATTR void ProductRows(const QuantizedRows& qr, int64_t m, const MatMulProduct& p,
                                  int64_t j_begin, int64_t j_end) {
  const WeightView& w = *p.w;
  const bool q4 = w.type == WeightFormat::kQ4;
  const int64_t n = w.rows;
  const QuantLayout l = QuantLayoutOf(w.type, n, w.cols);
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  const uint16_t* scales = reinterpret_cast<const uint16_t*>(base + l.scales_offset);
  float out[kMaxRows * kNr];
  for (int64_t j = j_begin; j < j_end;) {
    const int64_t nr = j + kNr <= n ? kNr : 1;
    const uint8_t* u[kNr];
    UnitPrefetch later;
    const uint16_t* sw[kNr];
    for (int64_t r = 0; r < nr; ++r) {
      u[r] = base + (j + r) * l.row_bytes;
      later.rows[r] = u[r] + kPrefetchUnits * nr * l.row_bytes;
      sw[r] = scales + (j + r) * l.blocks;
      later.scales[r] = sw[r] + kPrefetchUnits * nr * l.blocks;
    }
    const UnitPrefetch* next = j + (kPrefetchUnits + 1) * nr <= j_end ? &later : nullptr;
    if (q4) {
      if (nr == kNr) {
        ColumnsQuant<true, kNr>(qr, m, l.blocks, u, sw, next, out);
      } else {
        ColumnsQuant<true, 1>(qr, m, l.blocks, u, sw, next, out);
      }
    } else if (nr == kNr) {
      ColumnsQuant<false, kNr>(qr, m, l.blocks, u, sw, next, out);
    } else {
      ColumnsQuant<false, 1>(qr, m, l.blocks, u, sw, next, out);
    }
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t r = 0; r < nr; ++r) {
        p.y[i * n + j + r] = out[i * kNr + r] + (p.bias ? p.bias[j + r] : 0.0f);
      }
    }
    j += nr;
  }
}

}  // namespace

void MatMulQuantVnniMany(const float* x, int64_t m, std::span<const MatMulProduct> products,
                         ThreadPool& pool) {
  QWENVL_CHECK(m <= kMaxRows && !products.empty());
  const WeightView& w0 = *products.front().w;
  QWENVL_CHECK(IsQuantized(w0.type));
  QWENVL_CHECK(std::ssize(products) <= kMaxMatMulProducts);
  // Product p covers units [first_unit[p], first_unit[p + 1]) of the pool's range.
  int64_t first_unit[kMaxMatMulProducts + 1] = {0};
  for (size_t p = 0; p < products.size(); ++p) {
    const WeightView& w = *products[p].w;
    QWENVL_CHECK(w.type == w0.type && w.cols == w0.cols);
    first_unit[p + 1] = first_unit[p] + (w.rows + kNr - 1) / kNr;
  }
  thread_local QuantizedRows caller_rows;  // grows to the largest request, then stays
  QuantizedRows& qr = caller_rows;         // the workers must read the caller's copy, not their own
  if (w0.type == WeightFormat::kQ4) {
    QuantizeActivations<true>(x, m, w0.cols, 1.0f, qr);
  } else {
    QuantizeActivations<false>(x, m, w0.cols, 16.0f, qr);
  }
  const int64_t count = std::ssize(products);
  pool.RunRanges(first_unit[count], [&](int64_t begin, int64_t end, int) {
    for (int64_t p = 0; p < count; ++p) {
      const int64_t b = std::max(begin, first_unit[p]), e = std::min(end, first_unit[p + 1]);
      if (b >= e) continue;
      const int64_t n = products[p].w->rows;
      ProductRows(qr, m, products[p], (b - first_unit[p]) * kNr,
                  std::min(n, (e - first_unit[p]) * kNr));
    }
  });
}

void MatMulQuantVnni(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
                     ThreadPool& pool) {
  const MatMulProduct one{.w = &w, .bias = bias, .y = y};
  MatMulQuantVnniMany(x, m, std::span(&one, 1), pool);
}

#else  // not x86: never used

void MatMulQuantVnni(const float*, int64_t, const WeightView&, const float*, float*, ThreadPool&) {}
void MatMulQuantVnniMany(const float*, int64_t, std::span<const MatMulProduct>, ThreadPool&) {}

#endif

}  // namespace qwenvl::kernels
