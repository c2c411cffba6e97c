#include "model/decoder.h"

#include <cmath>
#include <string>

#include "kernels/ops.h"
#include "util/error.h"

namespace qwenvl::model {
namespace {

DecoderLayerWeights BindLayer(const io::TensorStore& store, int64_t l, const BindOptions& o) {
  const std::string p = "model.layers." + std::to_string(l) + ".";
  DecoderLayerWeights w;
  w.input_norm = LoadVector(store, p + "input_layernorm.weight");
  w.q_proj = BindLinear(store, p + "self_attn.q_proj", Bias::kPresent, o);
  w.k_proj = BindLinear(store, p + "self_attn.k_proj", Bias::kPresent, o);
  w.v_proj = BindLinear(store, p + "self_attn.v_proj", Bias::kPresent, o);
  w.o_proj = BindLinear(store, p + "self_attn.o_proj", Bias::kNone, o);
  w.post_norm = LoadVector(store, p + "post_attention_layernorm.weight");
  w.gate_proj = BindLinear(store, p + "mlp.gate_proj", Bias::kNone, o);
  w.up_proj = BindLinear(store, p + "mlp.up_proj", Bias::kNone, o);
  w.down_proj = BindLinear(store, p + "mlp.down_proj", Bias::kNone, o);
  return w;
}

void Grow(std::vector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
}

void Reserve(DecoderScratch& s, int64_t rows, const io::TextConfig& c) {
  if (rows <= s.rows) return;
  const int64_t q_dim = c.num_attention_heads * c.head_dim();
  Grow(s.x, rows * c.hidden_size);
  Grow(s.normed, rows * c.hidden_size);
  Grow(s.q, rows * q_dim);
  Grow(s.attn, rows * q_dim);
  Grow(s.proj, rows * c.hidden_size);
  Grow(s.gate, rows * c.intermediate_size);
  Grow(s.up, rows * c.intermediate_size);
  Grow(s.cos, rows * c.head_dim());
  Grow(s.sin, rows * c.head_dim());
  s.rows = rows;
}

// x[i] += y[i]: the residual connections of §4.
void AddInPlace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void AppendRows(std::vector<float>& dst, const float* src, int64_t n) {
  dst.insert(dst.end(), src, src + n);
}

}  // namespace

Decoder::Decoder(const io::ModelFolder& folder, const BindOptions& options)
    : config_(folder.config.text), mrope_(folder.config.text) {
  const io::TensorStore& store = folder.tensors;
  embed_ = ViewOf(store.Get("model.embed_tokens.weight"));
  layers_.reserve(static_cast<size_t>(config_.num_hidden_layers));
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l)
    layers_.push_back(BindLayer(store, l, options));
  final_norm_ = LoadVector(store, "model.norm.weight");
  // §11.1: the 3B checkpoint has no lm_head.weight; the head reads the embedding matrix. When
  // quantized, the head gets its own copy and the lookup keeps reading the stored rows.
  if (folder.report.lm_head_tied) {
    lm_head_ = MakeLinear(embed_, options);
    if (lm_head_.quantized != nullptr) ReleaseMappedPages(embed_);  // lookups re-read their rows
  } else {
    lm_head_ = BindLinear(store, "lm_head", Bias::kNone, options);
  }
}

int64_t Decoder::WeightBytesPerToken() const {
  int64_t bytes = WeightBytes(lm_head_.weight);
  for (const DecoderLayerWeights& w : layers_) {
    for (const Linear* l :
         {&w.q_proj, &w.k_proj, &w.v_proj, &w.o_proj, &w.gate_proj, &w.up_proj, &w.down_proj})
      bytes += WeightBytes(l->weight);
  }
  return bytes;
}

void Decoder::Embed(std::span<const int64_t> ids, float* out) const {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= embed_.rows) {
      throw Error(ErrorCode::kInvalidArgument,
                  "token id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                      " is outside the vocabulary [0, " + std::to_string(embed_.rows) + ")");
    }
    kernels::ConvertWeightRow(embed_, ids[i], out + static_cast<int64_t>(i) * hidden());
  }
}

KvCache Decoder::NewCache(int64_t capacity) const {
  return KvCache(config_.num_hidden_layers, capacity, config_.num_key_value_heads,
                 config_.head_dim());
}

void Decoder::Forward(const DecoderForwardArgs& args, KvCache& cache, DecoderScratch& s,
                      ThreadPool& pool) const {
  const int64_t n = args.positions.size();
  const int64_t d = hidden();
  if (static_cast<int64_t>(args.embeds.size()) != n * d) {
    throw Error(ErrorCode::kInvalidArgument, "decoder: " + std::to_string(n) + " positions need " +
                                                 std::to_string(n * d) + " embedding values, got " +
                                                 std::to_string(args.embeds.size()));
  }
  if (cache.length() + n > cache.capacity()) {
    throw Error(ErrorCode::kOutOfRange,
                "context length exceeded: " + std::to_string(cache.length()) + " cached + " +
                    std::to_string(n) + " new tokens > capacity " +
                    std::to_string(cache.capacity()));
  }
  const int64_t logit_rows =
      args.logit_rows == LogitRows::kNone ? 0 : (args.logit_rows == LogitRows::kLast ? 1 : n);
  QWENVL_CHECK(static_cast<int64_t>(args.logits.size()) == logit_rows * vocab_size());
  if (n == 0) return;
  Reserve(s, n, config_);
  cache.Reserve(cache.length() + n);  // grows the cache's storage in chunks, as the sequence does
  std::copy(args.embeds.begin(), args.embeds.end(), s.x.begin());
  mrope_.Fill(args.positions, s.cos.data(), s.sin.data());
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    Layer(l, n, cache, s, pool);
    if (l == 0 && args.taps != nullptr && args.taps->enabled) {
      AppendRows(args.taps->layer0, s.x.data(), n * d);
    }
  }
  kernels::RmsNorm(s.x.data(), final_norm_.data(), n, d, config_.rms_norm_eps, s.normed.data(),
                   pool);
  if (args.taps != nullptr && args.taps->enabled) {
    AppendRows(args.taps->final_norm, s.normed.data(), n * d);
  }
  Head(args, n, s, pool);
  cache.Advance(n);
}

// One decoder layer (§4): pre-norm attention and pre-norm SwiGLU MLP, each with a residual.
void Decoder::Layer(int64_t l, int64_t n, KvCache& cache, DecoderScratch& s,
                    ThreadPool& pool) const {
  const DecoderLayerWeights& w = layers_[l];
  const int64_t d = hidden();
  const float eps = config_.rms_norm_eps;
  kernels::RmsNorm(s.x.data(), w.input_norm.data(), n, d, eps, s.normed.data(), pool);
  Attend(l, n, cache, s, pool);
  ApplyLinear(w.o_proj, s.attn.data(), n, s.proj.data(), pool);
  AddInPlace(s.x.data(), s.proj.data(), n * d);

  kernels::RmsNorm(s.x.data(), w.post_norm.data(), n, d, eps, s.normed.data(), pool);
  ApplyLinear(w.gate_proj, s.normed.data(), n, s.gate.data(), pool);
  ApplyLinear(w.up_proj, s.normed.data(), n, s.up.data(), pool);
  kernels::SiluMul(s.gate.data(), s.up.data(), n * config_.intermediate_size);
  ApplyLinear(w.down_proj, s.gate.data(), n, s.proj.data(), pool);
  AddInPlace(s.x.data(), s.proj.data(), n * d);
}

// q/k/v projections with biases, M-RoPE on q and k (§5.1), keys and values written straight into
// the cache rows [start, start + n), then causal GQA attention over the whole cache (§4).
void Decoder::Attend(int64_t l, int64_t n, KvCache& cache, DecoderScratch& s,
                     ThreadPool& pool) const {
  const DecoderLayerWeights& w = layers_[l];
  const int64_t heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads;
  const int64_t head_dim = config_.head_dim(), q_dim = heads * head_dim;
  const int64_t start = cache.length(), kv_dim = cache.row_size();
  float* k_rows = cache.keys(l) + start * kv_dim;  // [n, kv_heads, head_dim]
  float* v_rows = cache.values(l) + start * kv_dim;
  ApplyLinear(w.q_proj, s.normed.data(), n, s.q.data(), pool);
  ApplyLinear(w.k_proj, s.normed.data(), n, k_rows, pool);
  ApplyLinear(w.v_proj, s.normed.data(), n, v_rows, pool);
  kernels::ApplyRotaryHalf({s.q.data(), n, q_dim, heads, head_dim, s.cos.data(), s.sin.data()});
  kernels::ApplyRotaryHalf({k_rows, n, kv_dim, kv_heads, head_dim, s.cos.data(), s.sin.data()});
  kernels::Attention({.q = s.q.data(),
                      .q_stride = q_dim,
                      .k = cache.keys(l),
                      .k_stride = kv_dim,
                      .v = cache.values(l),
                      .v_stride = kv_dim,
                      .out = s.attn.data(),
                      .out_stride = q_dim,
                      .q_len = n,
                      .kv_len = start + n,
                      .num_heads = heads,
                      .num_kv_heads = kv_heads,
                      .head_dim = head_dim,
                      .scale = 1.0f / std::sqrt(static_cast<float>(head_dim)),
                      .causal = true,
                      .q_offset = start},
                     pool);
}

// logits = final_norm(x) · Wlmᵀ for the requested rows (§4: generation needs only the last).
void Decoder::Head(const DecoderForwardArgs& args, int64_t n, DecoderScratch& s,
                   ThreadPool& pool) const {
  if (args.logit_rows == LogitRows::kNone) return;
  const int64_t first = args.logit_rows == LogitRows::kLast ? n - 1 : 0;
  ApplyLinear(lm_head_, s.normed.data() + first * hidden(), n - first, args.logits.data(), pool);
}

}  // namespace qwenvl::model
