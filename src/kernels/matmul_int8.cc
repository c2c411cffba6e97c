// int8 GEMM for kQ8 and kQ4 weights (prefill and vision) with AVX-512 VNNI, behind
// MatMulKernel::kInt8 from kMatMulGemmRows rows of x on. Below that, the GEMV of quant_vnni.cc
// runs; both round x with QuantizeInt8Block, so a row gets the same integers either way.
//
// x is packed per block of 32 rows as [quant block][quad][row] (a vector holds 4 consecutive k of
// 16 rows); each 4-byte quad of a weight row is broadcast, and vpdpbusd adds its 4 products into
// each row's lane. After the 8 quads of a block the int32 sums become floats:
//   acc += (sx·dot − sx·o·Σq) · sw
// where o is the weights' unsigned offset (dtype.h: q8 128, q4 8), removed with the block sums
// of x as in the GEMV.
#include "kernels/matmul_int8.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/gemm_panels.h"
#include "kernels/int8_block.h"
#include "util/error.h"

#if defined(__x86_64__)
#include <immintrin.h>
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#define QWENVL_INT8_ATTR \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,f16c")))
#endif

namespace qwenvl::kernels {

#if defined(QWENVL_INT8_ATTR)
namespace {

static_assert(kQuantBlock == 32, "QuantizeInt8Block32 quantizes blocks of 32");

constexpr int64_t kMrv = 2;              // vectors of 16 rows per block
constexpr int64_t kMb = kMrv * 16;       // x rows per block
constexpr int64_t kNr = 6;               // weight rows per unit
constexpr int64_t kMaxPanelBlocks = 64;  // quant blocks per panel (2048 columns)
constexpr int64_t kL2Bytes = 1 << 20;

// Quantizes and packs block b of kMb rows of x: q [qblocks][8 quads][kMb rows][4 bytes],
// scale and offset (sx·o·Σq) [qblocks][kMb]; rows past m are zero.
QWENVL_INT8_ATTR void PackBlock(const float* x, int64_t m, int64_t k, int64_t qblocks, int64_t b,
                                float o, int8_t* q, float* scale, float* offset) {
  int8_t* qd = q + b * qblocks * 8 * kMb * 4;
  float* sd = scale + b * qblocks * kMb;
  float* od = offset + b * qblocks * kMb;
  int8_t tmp[kQuantBlock];
  for (int64_t r = 0; r < kMb; ++r) {
    const int64_t i = b * kMb + r;
    for (int64_t qb = 0; qb < qblocks; ++qb) {
      Int8Block blk{};
      if (i < m) {
        const int64_t n = std::min(kQuantBlock, k - qb * kQuantBlock);
        blk = QuantizeInt8Block32(x + i * k + qb * kQuantBlock, n, tmp);  // zero past n
      } else {
        std::fill(tmp, tmp + kQuantBlock, int8_t{0});
      }
      for (int64_t quad = 0; quad < 8; ++quad) {
        std::memcpy(qd + ((qb * 8 + quad) * kMb + r) * 4, tmp + quad * 4, 4);
      }
      sd[qb * kMb + r] = blk.scale;
      od[qb * kMb + r] = blk.scale * o * static_cast<float>(blk.sum);
    }
  }
}

// acc[r][row] (+)= Σ over the panel's quant blocks of (sx·dot − off)·sw[r], row < kMrvT·16.
// w[r] points at the panel's first quantized byte of weight row r (unsigned, 32 per block),
// sw[r] at its first scale.
template <int kMrvT>
QWENVL_INT8_ATTR void Int8Tile(const int8_t* xq, const float* sx, const float* off,
                               const uint8_t* const* w, const uint16_t* const* sw, int64_t kc,
                               const float* acc_in, float* out) {
  __m512 acc[kMrvT][kNr];
  for (int v = 0; v < kMrvT; ++v) {
    for (int r = 0; r < kNr; ++r) {
      acc[v][r] = acc_in ? _mm512_loadu_ps(acc_in + (r * kMrv + v) * 16) : _mm512_setzero_ps();
    }
  }
  for (int64_t qb = 0; qb < kc; ++qb) {
    __m512i dot[kMrvT][kNr];
    for (int v = 0; v < kMrvT; ++v) {
      for (int r = 0; r < kNr; ++r) dot[v][r] = _mm512_setzero_si512();
    }
    for (int64_t quad = 0; quad < 8; ++quad) {
      __m512i xv[kMrvT];
      for (int v = 0; v < kMrvT; ++v) {
        xv[v] = _mm512_loadu_si512(xq + ((qb * 8 + quad) * kMb + v * 16) * 4);
      }
      for (int r = 0; r < kNr; ++r) {
        int32_t bytes;
        std::memcpy(&bytes, w[r] + qb * kQuantBlock + quad * 4, 4);
        const __m512i wb = _mm512_set1_epi32(bytes);
        for (int v = 0; v < kMrvT; ++v) dot[v][r] = _mm512_dpbusd_epi32(dot[v][r], wb, xv[v]);
      }
    }
    for (int v = 0; v < kMrvT; ++v) {
      const __m512 sxv = _mm512_loadu_ps(sx + qb * kMb + v * 16);
      const __m512 offv = _mm512_loadu_ps(off + qb * kMb + v * 16);
      for (int r = 0; r < kNr; ++r) {
        const __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(dot[v][r]), sxv, offv);
        acc[v][r] = _mm512_fmadd_ps(t, _mm512_set1_ps(_cvtsh_ss(sw[r][qb])), acc[v][r]);
      }
    }
  }
  for (int r = 0; r < kNr; ++r) {
    for (int v = 0; v < kMrvT; ++v) _mm512_storeu_ps(out + (r * kMrv + v) * 16, acc[v][r]);
  }
}

// Row j's q4 bytes of quant blocks [qb0, qb0 + count) as one unsigned byte per element. Done for
// every weight row at each call, so short prefills (a chat turn's few tokens) are bound by it.
QWENVL_INT8_ATTR void UnpackQ4(const uint8_t* row, int64_t qb0, int64_t count, uint8_t* dst) {
  constexpr int64_t half = kQuantBlock / 2;
  static_assert(half == 16, "one 16-byte vector per block");
  const __m128i nibble = _mm_set1_epi8(0x0f);
  for (int64_t b = 0; b < count; ++b) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + (qb0 + b) * half));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + b * kQuantBlock), _mm_and_si128(v, nibble));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + b * kQuantBlock + half),
                     _mm_and_si128(_mm_srli_epi16(v, 4), nibble));
  }
}

}  // namespace

QWENVL_INT8_ATTR void GemmInt8(const float* x, int64_t m, const WeightView& w, const float* bias,
                               float* y, ThreadPool& pool) {
  QWENVL_CHECK(IsQuantized(w.type));
  const bool q4 = w.type == WeightFormat::kQ4;
  const int64_t n = w.rows, k = w.cols;
  const QuantLayout l = QuantLayoutOf(w.type, n, k);
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  const uint16_t* scales = reinterpret_cast<const uint16_t*>(base + l.scales_offset);
  const int64_t qblocks = l.blocks, blocks = (m + kMb - 1) / kMb;
  // The caller's buffers: the workers reach them through the pointers below, not by name.
  thread_local std::vector<int8_t> q_storage;
  thread_local std::vector<float> scale_storage, offset_storage;
  q_storage.resize(blocks * qblocks * 8 * kMb * 4);
  scale_storage.resize(blocks * qblocks * kMb);
  offset_storage.resize(blocks * qblocks * kMb);
  const float o = q4 ? 8.0f : 128.0f;
  int8_t* xq_out = q_storage.data();
  float* sx_out = scale_storage.data();
  float* off_out = offset_storage.data();
  pool.Run(blocks,
           [&](int64_t b, int) { PackBlock(x, m, k, qblocks, b, o, xq_out, sx_out, off_out); });
  PanelPlan plan;
  plan.blocks = blocks;
  plan.units = (n + kNr - 1) / kNr;
  plan.k = qblocks;
  plan.kc = EqualPanel(qblocks, kMaxPanelBlocks, 2);  // whole 64-column ranges
  plan.group = GroupFor(kMb * plan.kc * kQuantBlock, kL2Bytes);
  plan.partial_floats = kNr * kMb;
  const int8_t* xq = xq_out;
  const float* sx = sx_out;
  const float* off = off_out;
  pool.RunRanges(plan.units, [&](int64_t begin, int64_t end, int) {
    thread_local std::vector<uint8_t> unit_storage;
    const uint8_t* rows[kNr];
    const uint16_t* row_scales[kNr];
    int64_t nr = 0;
    const auto prepare = [&](int64_t u, int64_t p0, int64_t kc) {
      const int64_t j0 = u * kNr;
      nr = std::min(kNr, n - j0);
      if (q4) unit_storage.resize(kNr * kc * kQuantBlock);
      for (int64_t r = 0; r < kNr; ++r) {
        const int64_t j = j0 + std::min(r, nr - 1);  // rows past n repeat the last; not written
        row_scales[r] = scales + j * l.blocks + p0;
        if (q4) {
          uint8_t* dst = unit_storage.data() + r * kc * kQuantBlock;
          UnpackQ4(base + j * l.row_bytes, p0, kc, dst);
          rows[r] = dst;
        } else {
          rows[r] = base + j * l.row_bytes + p0 * kQuantBlock;
        }
      }
    };
    const auto step = [&](const PanelStep& s) {
      const int64_t i0 = s.block * kMb, block_rows = std::min(kMb, m - i0);
      const int8_t* xp = xq + (s.block * qblocks + s.p0) * 8 * kMb * 4;
      const float* sxp = sx + (s.block * qblocks + s.p0) * kMb;
      const float* offp = off + (s.block * qblocks + s.p0) * kMb;
      alignas(64) float tmp_out[kNr * kMb];
      float* out = s.last ? tmp_out : s.partial;
      const float* in = s.first ? nullptr : s.partial;
      if (block_rows <= 16) {
        Int8Tile<1>(xp, sxp, offp, rows, row_scales, s.kc, in, out);
      } else {
        Int8Tile<2>(xp, sxp, offp, rows, row_scales, s.kc, in, out);
      }
      if (s.last) StoreColumnTile(tmp_out, kMb, block_rows, nr, i0, s.unit * kNr, bias, y, n);
    };
    RunPanelRange(plan, begin, end, prepare, step);
  });
}

#else  // not x86: never called (MatMulKernelRuns(kInt8) is false)

void GemmInt8(const float*, int64_t, const WeightView&, const float*, float*, ThreadPool&) {}

#endif

}  // namespace qwenvl::kernels
