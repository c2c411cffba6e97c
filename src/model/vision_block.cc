#include "model/vision_block.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace qwenvl::model {

namespace {

// Rows per MLP chunk: bounds the [rows, intermediate] gate/up buffers (2 × 14 MB at 3B sizes)
// while keeping each matmul large enough to reuse its weights across many rows.
constexpr int64_t kMlpChunkRows = 1024;

}  // namespace

VisionScratch::VisionScratch(compute::Backend& b, const io::VisionConfig& c, int64_t patches)
    : num_patches(patches), mlp_rows(std::min(patches, kMlpChunkRows)) {
  compute::ArenaPlan stream;
  const size_t x_slot = stream.Add(patches, c.hidden_size);
  const size_t normed_slot = stream.Add(patches, c.hidden_size);
  stream_arena = compute::Arena(b, std::move(stream));
  x = stream_arena[x_slot];
  normed = stream_arena[normed_slot];

  compute::ArenaPlan blocks;
  const size_t qkv_slot = blocks.Add(patches, 3 * c.hidden_size);
  const size_t attn_slot = blocks.Add(patches, c.hidden_size);
  const size_t gate_slot = blocks.Add(mlp_rows, c.intermediate_size);
  const size_t up_slot = blocks.Add(mlp_rows, c.intermediate_size);
  const size_t cos_slot = blocks.Add(patches, c.head_dim());
  const size_t sin_slot = blocks.Add(patches, c.head_dim());
  block_arena = compute::Arena(b, std::move(blocks));
  qkv = block_arena[qkv_slot];
  attn = block_arena[attn_slot];
  gate = block_arena[gate_slot];
  up = block_arena[up_slot];
  cos = block_arena[cos_slot];
  sin = block_arena[sin_slot];
}

void VisionScratch::ReleaseBlockTensors() {
  block_arena = compute::Arena();
  qkv = attn = gate = up = cos = sin = compute::Tensor();
}

VisionBlock::VisionBlock(compute::Backend& b, const io::TensorStore& store,
                         const io::VisionConfig& c, int64_t index, const BindOptions& o)
    : backend_(&b),
      hidden_(c.hidden_size),
      num_heads_(c.num_heads),
      head_dim_(c.head_dim()),
      eps_(c.rms_norm_eps) {
  const io::VisionBlockTensors t = io::VisionBlockTensors::Of(c, index);
  norm1_ = LoadVector(b, store, t.norm1);
  norm2_ = LoadVector(b, store, t.norm2);
  qkv_ = BindLinear(b, store, t.qkv, o);
  proj_ = BindLinear(b, store, t.proj, o);
  gate_ = BindLinear(b, store, t.gate_proj, o);
  up_ = BindLinear(b, store, t.up_proj, o);
  down_ = BindLinear(b, store, t.down_proj, o);
}

void VisionBlock::Forward(std::span<const int64_t> cu_seqlens, VisionScratch& s) const {
  AttentionPart(cu_seqlens, s);
  MlpPart(s);
}

// x += proj(attention(rope(qkv(norm1(x))))) per segment (§3.5, §3.3): every segment (one window,
// or one frame in the full-attention blocks) attends only to itself, computed on its own (§3.4),
// never as a full attention under a mask.
void VisionBlock::AttentionPart(std::span<const int64_t> cu, VisionScratch& s) const {
  compute::Backend& b = *backend_;
  QWENVL_CHECK(cu.size() >= 1 && cu.front() == 0 && cu.back() == s.num_patches);
  b.RmsNorm(s.x, norm1_, eps_, s.normed);
  b.MatMul(s.normed, qkv_, s.qkv);  // [n, 3 * hidden]: q, k, v columns
  const compute::Tensor q = s.qkv.Cols(0, hidden_), k = s.qkv.Cols(hidden_, hidden_);
  const compute::Tensor v = s.qkv.Cols(2 * hidden_, hidden_);
  b.Rotary({.x = q, .num_heads = num_heads_, .head_dim = head_dim_, .cos = s.cos, .sin = s.sin});
  b.Rotary({.x = k, .num_heads = num_heads_, .head_dim = head_dim_, .cos = s.cos, .sin = s.sin});
  s.segments.clear();
  for (size_t i = 0; i + 1 < cu.size(); ++i) {
    const int64_t begin = cu[i], rows = cu[i + 1] - cu[i];
    s.segments.push_back({.q = q.Rows(begin, rows),
                          .k = k.Rows(begin, rows),
                          .v = v.Rows(begin, rows),
                          .out = s.attn.Rows(begin, rows),
                          .q_offset = 0});
  }
  b.Attention({.segments = s.segments,
               .num_heads = num_heads_,
               .num_kv_heads = num_heads_,
               .head_dim = head_dim_,
               .scale = 1.0f / std::sqrt(static_cast<float>(head_dim_)),
               .causal = false});
  b.MatMul(s.attn, proj_, s.normed);
  b.Add(s.x, s.normed);
}

// x += down(silu(gate(h)) ⊙ up(h)), h = norm2(x), in row chunks of s.mlp_rows (§3.5).
void VisionBlock::MlpPart(VisionScratch& s) const {
  compute::Backend& b = *backend_;
  const int64_t n = s.num_patches;
  b.RmsNorm(s.x, norm2_, eps_, s.normed);
  for (int64_t r0 = 0; r0 < n; r0 += s.mlp_rows) {
    const int64_t rows = std::min(s.mlp_rows, n - r0);
    const compute::Tensor h = s.normed.Rows(r0, rows);
    const compute::Tensor gate = s.gate.Rows(0, rows), up = s.up.Rows(0, rows);
    b.MatMul(h, gate_, gate);  // [rows, inter]
    b.MatMul(h, up_, up);      // [rows, inter]
    b.SiluMul(gate, up);
    b.MatMul(gate, down_, s.attn.Rows(r0, rows));
  }
  b.Add(s.x, s.attn);
}

}  // namespace qwenvl::model
