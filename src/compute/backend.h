// The compute backend: the one interface the model computes through (docs/architecture.md, "The
// compute backend seam"). A backend owns the memory of activations, KV caches and weights and
// implements the dozen operations the model is made of. The model decides what to compute and in
// which buffers; the backend decides how (kernels, threads, devices).
//
// Contract. Every operation is issued from one thread at a time. Results are visible to the
// operations issued after it; Download returns once the values are on the host. Tensors passed to
// one call must not overlap unless the call says so. Shapes are checked (QWENVL_CHECK): a shape
// error is a bug in the caller, not bad input.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "compute/tensor.h"
#include "qwenvl/kv_type.h"
#include "qwenvl/token_id.h"

namespace qwenvl::compute {

// Rotate-half rotary embedding, in place, on x [rows, num_heads · head_dim] (any row stride): for
// each head and j < head_dim / 2,
//   x'[j] = x[j]·cos[j] − x[j+half]·sin[j],  x'[j+half] = x[j+half]·cos[j+half] + x[j]·sin[j+half]
// with cos and sin [rows, head_dim] shared by the heads of a row.
struct RotarySpec {
  Tensor x;
  int64_t num_heads = 0;
  int64_t head_dim = 0;
  Tensor cos;
  Tensor sin;
};

// One attention segment: queries q [q_len, num_heads · head_dim] attend to keys and values
// k, v [kv_len, num_kv_heads · head_dim]; out is like q. With causal attention, query i sits at
// position q_offset + i of the keys and sees keys j ≤ q_offset + i.
struct AttentionSegment {
  Tensor q;
  Tensor k;
  Tensor v;
  Tensor out;
  int64_t q_offset = 0;
};

// Scaled dot-product attention over independent segments (variable lengths: the vision encoder's
// windows and frames, the decoder's sequences each over its own cache):
//   out[i, h] = softmax_j(q[i, h] · k[j, h / group] · scale) · v[j, h / group],
// group = num_heads / num_kv_heads (grouped-query attention). The segments' k and v hold rows of
// kv_type as StoreKv writes them (KvRowFloats(kv_type, num_kv_heads, head_dim) floats each);
// attention reads that type, so a bf16 or q8 cache is never widened whole.
struct AttentionSpec {
  std::span<const AttentionSegment> segments;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  float scale = 1.0f;
  bool causal = false;
  KvType kv_type = KvType::kF32;
};

class Backend {
 public:
  virtual ~Backend() = default;
  Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  // "cpu", "reference", ...
  virtual std::string_view name() const = 0;

  // --- memory -------------------------------------------------------------------------------
  // A zeroed float32 matrix [rows, cols], contiguous.
  Buffer Allocate(int64_t rows, int64_t cols);

  // dst = host floats [dst.rows · dst.cols], row-major.
  virtual void Upload(std::span<const float> src, const Tensor& dst) = 0;
  // host floats [src.rows · src.cols], row-major = src.
  virtual void Download(const Tensor& src, std::span<float> dst) = 0;
  // dst = src (same shape).
  virtual void Copy(const Tensor& src, const Tensor& dst) = 0;
  // KV-cache rows: dst [rows, KvRowFloats(type, num_kv_heads, head_dim)] = src [rows,
  // num_kv_heads · head_dim] converted to type (kernels::StoreKvRows's layout). The same src
  // gives the same stored bits on every backend and whatever rows are written together.
  virtual void StoreKv(const Tensor& src, KvType type, int64_t num_kv_heads, int64_t head_dim,
                       const Tensor& dst) = 0;
  // A matrix of the checkpoint, uploaded as `how` asks, with an optional bias (bias.view.data
  // null: none; else a [1, rows] or [rows] vector in any stored type).
  virtual Weight UploadWeight(const HostMatrix& w, const HostMatrix& bias,
                              const WeightUpload& how) = 0;
  // A checkpoint matrix (norm weights, small tables) converted to float32 [rows, cols].
  virtual Buffer UploadConverted(const HostMatrix& m) = 0;

  // --- math ---------------------------------------------------------------------------------
  // y [m, w.rows] = x [m, w.cols] · wᵀ (+ w's bias). x and y contiguous. Sums are float32 in an
  // order that does not depend on how the backend splits the work.
  virtual void MatMul(const Tensor& x, const Weight& w, const Tensor& y) = 0;
  // Several products of the same x (q, k and v; gate and up), at most kMaxProducts: each y is
  // what MatMul(x, *w, y) gives. A backend may share work between them (x converted once, one
  // dispatch); this one computes them in turn.
  struct Product {
    const Weight* w = nullptr;
    Tensor y;
  };
  static constexpr int64_t kMaxProducts = 8;
  virtual void MatMuls(const Tensor& x, std::span<const Product> products);
  // y[r] = x[r] / sqrt(mean(x[r]²) + eps) · weight (weight [1, cols]); x and y may be the same.
  virtual void RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& y) = 0;
  virtual void Rotary(const RotarySpec& spec) = 0;
  virtual void Attention(const AttentionSpec& spec) = 0;
  // gate = silu(gate) · up, elementwise (same shapes).
  virtual void SiluMul(const Tensor& gate, const Tensor& up) = 0;
  // x = 0.5 · x · (1 + erf(x / sqrt(2))), the exact GELU, in place.
  virtual void Gelu(const Tensor& x) = 0;
  // x += y (same shapes): residual connections.
  virtual void Add(const Tensor& x, const Tensor& y) = 0;

  // --- rows ---------------------------------------------------------------------------------
  // out[i] = row ids[i] of table, converted to float32 (token embeddings). ids are in range
  // (the caller checks them: they come from users).
  virtual void EmbedRows(const Weight& table, std::span<const TokenId> ids, const Tensor& out) = 0;
  // dst[i] = src[index[i]] for i < index.size() (dst.rows == index.size()).
  virtual void GatherRows(const Tensor& src, std::span<const int64_t> index, const Tensor& dst) = 0;
  // dst[index[i]] = src[i] for i < index.size() (src.rows == index.size()); other rows of dst
  // keep their values.
  virtual void ScatterRows(const Tensor& src, std::span<const int64_t> index,
                           const Tensor& dst) = 0;

 protected:
  // Raw memory for Allocate: n floats, zeroed, and its release.
  virtual float* AllocateFloats(int64_t n) = 0;
  virtual void FreeFloats(float* data) = 0;

 private:
  friend class Buffer;
};

}  // namespace qwenvl::compute
