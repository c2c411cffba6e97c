// The CPU kernels the model calls. Plain types only: no SIMD types appear here. Every function
// works on whole row blocks so that dispatch is paid per matrix. All activations are float32.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/dtype.h"
#include "kernels/matmul_kernel.h"
#include "qwenvl/kv_type.h"
#include "util/thread_pool.h"

namespace qwenvl::kernels {

// y[m, n] = x[m, k] · w[n, k]ᵀ (+ bias[n] when bias != nullptr). w.cols == k, w.rows == n.
// Rows of x and y are contiguous (row stride k and n). Any WeightFormat; sums are float32 in a
// fixed order per element (results depend neither on the thread count nor on the other rows of x).
// `kernel` says how (matmul_kernel.h): kF32 reads the weights in their stored type and converts
// them on the fly; the others round x (and maybe the weights) first. The kernel must run on this
// CPU and take this weight type (MatMulKernelRuns / MatMulKernelTakes).
void MatMul(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
            ThreadPool& pool, MatMulKernel kernel = MatMulKernel::kF32);
// The products of one x [m, k] with several weights [·, k] of one type (q, k and v; gate and up),
// at most kMaxMatMulProducts: each y is exactly what MatMul(x, m, *w, bias, y, pool, kernel)
// writes. Kernels that stream the weights (the int8 GEMV) quantize x once and share all the rows
// out in one job of the pool; the others compute the products one after the other.
void MatMulMany(const float* x, int64_t m, std::span<const MatMulProduct> products,
                ThreadPool& pool, MatMulKernel kernel);

// y[r] = x[r] / sqrt(mean(x[r]²) + eps) · weight, for r < rows; x and y may alias.
void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps, float* y,
             ThreadPool& pool);

// gate[i] = silu(gate[i]) · up[i]
void SiluMul(float* gate, const float* up, int64_t n);

// x[i] = 0.5 · x[i] · (1 + erf(x[i] / sqrt(2)))  (exact GELU)
void GeluErf(float* x, int64_t n);

// In-place rotate-half rotary embedding on x [rows, num_heads, head_dim] (row stride
// row_stride floats): for j < head_dim/2,
//   x'[j] = x[j]·cos[j] − x[j+half]·sin[j],  x'[j+half] = x[j+half]·cos[j+half] + x[j]·sin[j+half]
// cos and sin are [rows, head_dim], shared by all heads of a row.
struct RotaryArgs {
  float* x;
  int64_t rows;
  int64_t row_stride;
  int64_t num_heads;
  int64_t head_dim;
  const float* cos;
  const float* sin;
};
void ApplyRotaryHalf(const RotaryArgs& args);

// Scaled dot-product attention over one segment of a sequence, all heads:
//   out[i, h, :] = softmax_j(q[i, h, :] · k[j, kvh, :] · scale) · v[j, kvh, :]
// q [q_len, num_heads, head_dim], k and v [kv_len, num_kv_heads, head_dim], out like q; row strides
// given in floats. Query head h reads kv head h / (num_heads / num_kv_heads).
// With causal, query i (absolute position q_offset + i) sees keys j <= q_offset + i.
// k and v rows are stored as kv_type says (StoreKvRows's layout, KvRowFloats floats each; kF32:
// plain floats); the kernels read that type and widen it a block at a time.
struct AttentionArgs {
  const float* q;
  int64_t q_stride;
  const float* k;
  int64_t k_stride;
  const float* v;
  int64_t v_stride;
  float* out;
  int64_t out_stride;
  int64_t q_len;
  int64_t kv_len;
  int64_t num_heads;
  int64_t num_kv_heads;
  int64_t head_dim;
  float scale;
  bool causal;
  int64_t q_offset;
  KvType kv_type = KvType::kF32;
};
void Attention(const AttentionArgs& args, ThreadPool& pool);

// KV-cache rows in a stored type: dst row r = src row r [num_kv_heads · head_dim] converted to
// type (bf16 rounded to nearest even; q8 per KvQuantBlock(head_dim) block, q = round-half-even of
// x / scale, scale = max|x| / 127, the int8 values then the float32 scales). Row strides in
// floats; dst rows hold KvRowFloats(type, …) floats. One scalar function for every backend, so
// that the same rows are stored bit for bit whichever backend or order writes them.
void StoreKvRows(const float* src, int64_t src_stride, int64_t rows, KvType type,
                 int64_t num_kv_heads, int64_t head_dim, float* dst, int64_t dst_stride);
// dst[i] = value col0 + i of a stored row, as float32, for i < n (within one row).
void LoadKvValues(const float* row, KvType type, int64_t num_kv_heads, int64_t head_dim,
                  int64_t col0, int64_t n, float* dst);

// Quantizes w (f32, bf16 or f16) to `to` (kQ8 or kQ4; layouts in dtype.h), rows split over
// threads. Throws Error(kUnsupported) for other types. Used at load time, not per token.
QuantizedMatrix Quantize(const WeightView& w, WeightFormat to, ThreadPool& pool);

// Σ x[i], read once with vector loads split over the pool: a streaming read that measures the
// memory bandwidth decode can hope for (qwenvl bench). The summation order depends on the threads.
float StreamRead(const float* x, int64_t n, ThreadPool& pool);

// Converts n elements of a stored row to float32 (embedding lookups, bias and norm loading).
void ConvertRow(const void* src, WeightFormat type, int64_t n, float* dst);
// Converts row `row` of w (any type, quantized included) to float32.
void ConvertWeightRow(const WeightView& w, int64_t row, float* dst);
// dst[i] = w[row, col0 + i] as float32 for i < n; col0 a multiple of 64 (whole quantized blocks).
void ConvertWeightRange(const WeightView& w, int64_t row, int64_t col0, int64_t n, float* dst);

}  // namespace qwenvl::kernels
