#include "model/vision_block.h"

#include <algorithm>
#include <string>

#include "kernels/ops.h"
#include "model/vision_attention.h"

namespace qwenvl::model {

namespace {

// Rows per MLP chunk: bounds the [rows, intermediate] gate/up buffers (2 × 14 MB at 3B sizes)
// while keeping each matmul large enough to reuse its weights across many rows.
constexpr int64_t kMlpChunkRows = 1024;

}  // namespace

VisionScratch::VisionScratch(const io::VisionConfig& c, int64_t patches)
    : num_patches(patches), mlp_rows(std::min(patches, kMlpChunkRows)) {
  const auto n = static_cast<size_t>(patches), h = static_cast<size_t>(c.hidden_size);
  normed.resize(n * h);
  qkv.resize(3 * n * h);
  attn.resize(n * h);
  gate.resize(static_cast<size_t>(mlp_rows * c.intermediate_size));
  up.resize(gate.size());
}

VisionBlock::VisionBlock(const io::TensorStore& store, const io::VisionConfig& c, int64_t index,
                         const BindOptions& o)
    : hidden_(c.hidden_size),
      num_heads_(c.num_heads),
      head_dim_(c.head_dim()),
      eps_(c.rms_norm_eps) {
  const std::string p = "visual.blocks." + std::to_string(index) + ".";
  norm1_ = LoadVector(store, p + "norm1.weight");
  norm2_ = LoadVector(store, p + "norm2.weight");
  qkv_ = BindLinear(store, p + "attn.qkv", Bias::kPresent, o);
  proj_ = BindLinear(store, p + "attn.proj", Bias::kPresent, o);
  gate_ = BindLinear(store, p + "mlp.gate_proj", Bias::kPresent, o);
  up_ = BindLinear(store, p + "mlp.up_proj", Bias::kPresent, o);
  down_ = BindLinear(store, p + "mlp.down_proj", Bias::kPresent, o);
}

void VisionBlock::Forward(float* x, const VisionBlockInputs& in, VisionScratch& s,
                          ThreadPool& pool) const {
  AttentionPart(x, in, s, pool);
  MlpPart(x, s, pool);
}

// x += proj(attention(rope(qkv(norm1(x))))) per segment (§3.5, §3.3).
void VisionBlock::AttentionPart(float* x, const VisionBlockInputs& in, VisionScratch& s,
                                ThreadPool& pool) const {
  const int64_t n = s.num_patches;
  kernels::RmsNorm(x, norm1_.data(), n, hidden_, eps_, s.normed.data(), pool);
  ApplyLinear(qkv_, s.normed.data(), n, s.qkv.data(), pool);  // [n, 3 * hidden]
  // Rotary on q (columns [0, hidden)) and k ([hidden, 2 hidden)), row blocks over the pool.
  pool.RunRanges(n, [&](int64_t begin, int64_t end, int) {
    for (int64_t part = 0; part < 2; ++part) {
      kernels::ApplyRotaryHalf({.x = s.qkv.data() + begin * 3 * hidden_ + part * hidden_,
                                .rows = end - begin,
                                .row_stride = 3 * hidden_,
                                .num_heads = num_heads_,
                                .head_dim = head_dim_,
                                .cos = in.cos + begin * head_dim_,
                                .sin = in.sin + begin * head_dim_});
    }
  });
  SegmentedAttention({.qkv = s.qkv.data(),
                      .out = s.attn.data(),
                      .cu_seqlens = in.cu_seqlens,
                      .num_heads = num_heads_,
                      .head_dim = head_dim_},
                     pool);
  ApplyLinear(proj_, s.attn.data(), n, s.normed.data(), pool);
  AddResidual(x, s.normed.data(), n, hidden_, pool);
}

// x += down(silu(gate(h)) ⊙ up(h)), h = norm2(x), in row chunks of s.mlp_rows (§3.5).
void VisionBlock::MlpPart(float* x, VisionScratch& s, ThreadPool& pool) const {
  const int64_t n = s.num_patches;
  const int64_t inter = gate_.out_features();
  kernels::RmsNorm(x, norm2_.data(), n, hidden_, eps_, s.normed.data(), pool);
  for (int64_t r0 = 0; r0 < n; r0 += s.mlp_rows) {
    const int64_t rows = std::min(s.mlp_rows, n - r0);
    const float* h = s.normed.data() + r0 * hidden_;
    ApplyLinear(gate_, h, rows, s.gate.data(), pool);  // [rows, inter]
    ApplyLinear(up_, h, rows, s.up.data(), pool);      // [rows, inter]
    pool.RunRanges(rows, [&](int64_t begin, int64_t end, int) {
      kernels::SiluMul(s.gate.data() + begin * inter, s.up.data() + begin * inter,
                       (end - begin) * inter);
    });
    ApplyLinear(down_, s.gate.data(), rows, s.attn.data() + r0 * hidden_, pool);
  }
  AddResidual(x, s.attn.data(), n, hidden_, pool);
}

void AddResidual(float* x, const float* delta, int64_t rows, int64_t dim, ThreadPool& pool) {
  pool.RunRanges(rows, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin * dim; i < end * dim; ++i) x[i] += delta[i];
  });
}

}  // namespace qwenvl::model
