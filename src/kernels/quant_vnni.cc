// AVX-512 VNNI decode MatMul for kQ8 and kQ4 weights. vpdpbusd multiplies unsigned by signed
// bytes: the weights are stored unsigned with an offset o (q8: u = q + 128, q4: u = q + 8;
// dtype.h), the activations are signed int8, and the offset is removed with the activations'
// block sums:  Σ_i q_i·x_i = Σ_i u_i·x_i − o·Σ_i x_i.
// One 64-weight vector covers two blocks: lanes 0-7 sum block 2p, lanes 8-15 block 2p + 1, so the
// per-lane float update is  acc += (sx·dot − sx·(o/8)·Σx) · sw.
#include "kernels/quant_vnni.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/int8_block.h"
#include "util/error.h"

#if defined(__x86_64__) || defined(__i386__)
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

// One activation row quantized per block, with per-pair lane vectors of its scales.
struct QuantizedRows {
  std::vector<int8_t> q;      // [m][pairs·64]
  std::vector<float> scale;   // [m][pairs][16]: sx of the lane's block
  std::vector<float> offset;  // [m][pairs][16]: sx·16·Σx of the lane's block
  int64_t pairs = 0;
};

// offset_per_lane = o / 8: the weight offset spread over the 8 lanes of a block.
static_assert(kQuantBlock == 32, "QuantizeInt8Block32 quantizes blocks of 32");

QWENVL_VNNI_ATTR void QuantizeActivations(const float* x, int64_t m, int64_t k,
                                          float offset_per_lane, QuantizedRows& qr) {
  qr.pairs = (k + 2 * kQuantBlock - 1) / (2 * kQuantBlock);
  qr.q.assign(m * qr.pairs * 64, 0);  // an odd last block leaves its pair's second half 0
  qr.scale.assign(m * qr.pairs * 16, 0.0f);
  qr.offset.assign(m * qr.pairs * 16, 0.0f);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t b = 0; b * kQuantBlock < k; ++b) {
      const float* xb = x + i * k + b * kQuantBlock;
      const int64_t n = std::min(kQuantBlock, k - b * kQuantBlock);
      const Int8Block blk =
          QuantizeInt8Block32(xb, n, qr.q.data() + i * qr.pairs * 64 + b * kQuantBlock);
      const float sx = blk.scale;
      const int32_t sum = blk.sum;
      float* sv = qr.scale.data() + (i * qr.pairs + b / 2) * 16 + (b % 2) * 8;
      float* ov = qr.offset.data() + (i * qr.pairs + b / 2) * 16 + (b % 2) * 8;
      for (int t = 0; t < 8; ++t) {
        sv[t] = sx;
        ov[t] = sx * offset_per_lane * static_cast<float>(sum);
      }
    }
  }
}

// The 64 unsigned weights of blocks 2p and 2p + 1 of a row (zero past the last block).
template <bool kQ4>
QWENVL_VNNI_ATTR inline __m512i LoadPair(const uint8_t* row, int64_t p, bool odd_tail) {
  if constexpr (!kQ4) {
    return _mm512_maskz_loadu_epi8(odd_tail ? 0xffffffffull : ~0ull, row + p * 64);
  } else {
    // 32 bytes: block 2p in bytes 0-15 (elements 0-15 low nibbles, 16-31 high), 2p + 1 in 16-31.
    const __m256i b = _mm256_maskz_loadu_epi8(odd_tail ? 0xffffu : 0xffffffffu, row + p * 32);
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    const __m256i lo = _mm256_and_si256(b, nibble);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), nibble);
    const __m512i z = _mm512_inserti64x4(_mm512_zextsi256_si512(lo), hi, 1);
    // [lo 0-15, lo 16-31, hi 0-15, hi 16-31] -> [lo 0-15, hi 0-15, lo 16-31, hi 16-31]
    return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
  }
}

// y[i, r] for i < kMr, r < nr_tile (kNr or 1): weight rows u[r] with scales sw[r].
// When next is not null, the rows next[r] (the thread's next unit) are prefetched along the way:
// the hardware prefetcher does not cross 4 KiB pages, and a row is about one page.
template <bool kQ4, int kMr, int kNrTile>
QWENVL_VNNI_ATTR void TileQuant(const QuantizedRows& qr, int64_t i0, int64_t blocks,
                                const uint8_t* const* u, const uint16_t* const* sw,
                                const uint8_t* const* next, float* out) {
  __m512 acc[kMr][kNrTile];
  for (int i = 0; i < kMr; ++i) {
    for (int r = 0; r < kNrTile; ++r) acc[i][r] = _mm512_setzero_ps();
  }
  const __m512i pair_idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  for (int64_t p = 0; p < qr.pairs; ++p) {
    const bool odd_tail = 2 * p + 1 >= blocks;  // the second block of this pair does not exist
    __m512i wv[kNrTile];
    __m512 swv[kNrTile];
    if (next != nullptr && (!kQ4 || p % 2 == 0)) {  // one 64-byte line per step
      for (int r = 0; r < kNrTile; ++r) _mm_prefetch(next[r] + p * (kQ4 ? 32 : 64), _MM_HINT_T0);
    }
    for (int r = 0; r < kNrTile; ++r) {
      wv[r] = LoadPair<kQ4>(u[r], p, odd_tail);
      // The float16 scales of blocks 2p and 2p + 1, in one load (bytewise copies would stall
      // the conversion on store forwarding).
      const __m128 s2 =
          _mm_cvtph_ps(odd_tail ? _mm_loadu_si16(sw[r] + 2 * p) : _mm_loadu_si32(sw[r] + 2 * p));
      swv[r] = _mm512_maskz_permutexvar_ps(0xffff, pair_idx, _mm512_zextps128_ps512(s2));
    }
    for (int i = 0; i < kMr; ++i) {
      const int64_t row = (i0 + i) * qr.pairs + p;
      const __m512i xv = _mm512_loadu_si512(qr.q.data() + row * 64);
      const __m512 sx = _mm512_loadu_ps(qr.scale.data() + row * 16);
      const __m512 off = _mm512_loadu_ps(qr.offset.data() + row * 16);
      for (int r = 0; r < kNrTile; ++r) {
        const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv[r], xv);
        const __m512 t = _mm512_fmsub_ps(_mm512_maskz_cvtepi32_ps(0xffff, dot), sx, off);
        acc[i][r] = _mm512_fmadd_ps(t, swv[r], acc[i][r]);
      }
    }
  }
  for (int i = 0; i < kMr; ++i) {
    for (int r = 0; r < kNrTile; ++r) {
      alignas(64) float lanes[16];
      _mm512_store_ps(lanes, acc[i][r]);
      float s = 0.0f;
      for (float v : lanes) s += v;
      out[i * kNr + r] = s;
    }
  }
}

template <bool kQ4, int kNrTile>
QWENVL_VNNI_ATTR void ColumnsQuant(const QuantizedRows& qr, int64_t m, int64_t blocks,
                                   const uint8_t* const* u, const uint16_t* const* sw,
                                   const uint8_t* const* next, float* out) {
  for (int64_t i = 0; i < m; i += 4) {
    const uint8_t* const* pf = i == 0 ? next : nullptr;  // once per unit
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

}  // namespace

void MatMulQuantVnni(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
                     ThreadPool& pool) {
  QWENVL_CHECK(IsQuantized(w.type) && m <= kMaxRows);
  const bool q4 = w.type == WeightFormat::kQ4;
  const int64_t n = w.rows, k = w.cols;
  const QuantLayout l = QuantLayoutOf(w.type, n, k);
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  const uint16_t* scales = reinterpret_cast<const uint16_t*>(base + l.scales_offset);
  thread_local QuantizedRows caller_rows;  // grows to the largest request, then stays
  QuantizedRows& qr = caller_rows;         // the workers must read the caller's copy, not their own
  QuantizeActivations(x, m, k, q4 ? 1.0f : 16.0f, qr);
  const int64_t units = (n + kNr - 1) / kNr;
  pool.RunRanges(units, [&](int64_t begin, int64_t end, int) {
    float out[kMaxRows * kNr];
    const int64_t j_end = std::min(n, end * kNr);
    for (int64_t j = begin * kNr; j < j_end;) {
      const int64_t nr = j + kNr <= n ? kNr : 1;
      const uint8_t* u[kNr];
      const uint8_t* next_rows[kNr];
      const uint16_t* sw[kNr];
      for (int64_t r = 0; r < nr; ++r) {
        u[r] = base + (j + r) * l.row_bytes;
        next_rows[r] = u[r] + kPrefetchUnits * nr * l.row_bytes;
        sw[r] = scales + (j + r) * l.blocks;
      }
      const uint8_t* const* next = j + (kPrefetchUnits + 1) * nr <= j_end ? next_rows : nullptr;
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
          y[i * n + j + r] = out[i * kNr + r] + (bias ? bias[j + r] : 0.0f);
        }
      }
      j += nr;
    }
  });
}

#else  // not x86: never used

void MatMulQuantVnni(const float*, int64_t, const WeightView&, const float*, float*, ThreadPool&) {}

#endif

}  // namespace qwenvl::kernels
