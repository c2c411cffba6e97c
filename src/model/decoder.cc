#include "model/decoder.h"

#include <algorithm>
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
  Grow(s.k, rows * c.num_key_value_heads * c.head_dim());
  Grow(s.v, rows * c.num_key_value_heads * c.head_dim());
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
    lm_head_ = MakeLinear(embed_, options, /*from_mapping=*/true);
    if (lm_head_.resident != nullptr) {
      ReleaseMappedPages(embed_);
      embed_ = lm_head_.weight;  // the same bytes: lookups read the resident copy
    } else if (lm_head_.owned()) {
      ReleaseMappedPages(embed_);  // lookups re-read their rows
    }
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
  const Segment segment{&cache, 0, n};
  Run({&segment, 1}, n, s, args.taps, pool);
  Head(args.logit_rows, args.logits, n, s, pool);
  cache.Advance(n);
}

void Decoder::ForwardBatch(const DecoderBatchArgs& args, DecoderScratch& s,
                           ThreadPool& pool) const {
  const auto b = static_cast<int64_t>(args.caches.size());
  const int64_t d = hidden();
  if (static_cast<int64_t>(args.embeds.size()) != b * d ||
      static_cast<int64_t>(args.positions.size()) != b ||
      static_cast<int64_t>(args.logits.size()) != b * vocab_size()) {
    throw Error(ErrorCode::kInvalidArgument,
                "decoder batch of " + std::to_string(b) + " sequences: got " +
                    std::to_string(args.embeds.size()) + " embedding values (need " +
                    std::to_string(b * d) + "), " + std::to_string(args.positions.size()) +
                    " positions, " + std::to_string(args.logits.size()) + " logit values");
  }
  for (int64_t i = 0; i < b; ++i) {
    const KvCache& c = *args.caches[i];
    if (c.length() + 1 > c.capacity()) {
      throw Error(ErrorCode::kOutOfRange, "context length exceeded: sequence " + std::to_string(i) +
                                              " of the batch holds " + std::to_string(c.length()) +
                                              " tokens, capacity " + std::to_string(c.capacity()));
    }
    for (int64_t j = 0; j < i; ++j) QWENVL_CHECK(args.caches[j] != args.caches[i]);
  }
  if (b == 0) return;
  Reserve(s, b, config_);
  std::vector<Segment> segments;  // B small records; the activations reuse the scratch
  segments.reserve(static_cast<size_t>(b));
  for (int64_t i = 0; i < b; ++i) {
    args.caches[i]->Reserve(args.caches[i]->length() + 1);
    segments.push_back({args.caches[i], i, 1});
  }
  std::copy(args.embeds.begin(), args.embeds.end(), s.x.begin());
  mrope_.Fill({args.positions, args.positions, args.positions}, s.cos.data(), s.sin.data());
  Run(segments, b, s, nullptr, pool);
  Head(LogitRows::kAll, args.logits, b, s, pool);
  for (KvCache* c : args.caches) c->Advance(1);
}

void Decoder::Run(std::span<const Segment> segments, int64_t n, DecoderScratch& s,
                  DecoderTaps* taps, ThreadPool& pool) const {
  const int64_t d = hidden();
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    Layer(l, segments, n, s, pool);
    if (l == 0 && taps != nullptr && taps->enabled) AppendRows(taps->layer0, s.x.data(), n * d);
  }
  kernels::RmsNorm(s.x.data(), final_norm_.data(), n, d, config_.rms_norm_eps, s.normed.data(),
                   pool);
  if (taps != nullptr && taps->enabled) AppendRows(taps->final_norm, s.normed.data(), n * d);
}

// One decoder layer (§4): pre-norm attention and pre-norm SwiGLU MLP, each with a residual. Every
// matrix product covers all n rows, whichever sequences they belong to.
void Decoder::Layer(int64_t l, std::span<const Segment> segments, int64_t n, DecoderScratch& s,
                    ThreadPool& pool) const {
  const DecoderLayerWeights& w = layers_[l];
  const int64_t d = hidden();
  const float eps = config_.rms_norm_eps;
  kernels::RmsNorm(s.x.data(), w.input_norm.data(), n, d, eps, s.normed.data(), pool);
  Attend(l, segments, n, s, pool);
  ApplyLinear(w.o_proj, s.attn.data(), n, s.proj.data(), pool);
  AddInPlace(s.x.data(), s.proj.data(), n * d);

  kernels::RmsNorm(s.x.data(), w.post_norm.data(), n, d, eps, s.normed.data(), pool);
  ApplyLinear(w.gate_proj, s.normed.data(), n, s.gate.data(), pool);
  ApplyLinear(w.up_proj, s.normed.data(), n, s.up.data(), pool);
  kernels::SiluMul(s.gate.data(), s.up.data(), n * config_.intermediate_size);
  ApplyLinear(w.down_proj, s.gate.data(), n, s.proj.data(), pool);
  AddInPlace(s.x.data(), s.proj.data(), n * d);
}

// q/k/v projections with biases over all rows and M-RoPE on q and k (§5.1); then per segment its
// keys and values are appended to its cache (rows [length, length + rows)) and its queries attend
// causally over that cache (GQA, §4).
void Decoder::Attend(int64_t l, std::span<const Segment> segments, int64_t n, DecoderScratch& s,
                     ThreadPool& pool) const {
  const DecoderLayerWeights& w = layers_[l];
  const int64_t heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads;
  const int64_t head_dim = config_.head_dim(), q_dim = heads * head_dim;
  const int64_t kv_dim = kv_heads * head_dim;
  ApplyLinear(w.q_proj, s.normed.data(), n, s.q.data(), pool);
  ApplyLinear(w.k_proj, s.normed.data(), n, s.k.data(), pool);
  ApplyLinear(w.v_proj, s.normed.data(), n, s.v.data(), pool);
  kernels::ApplyRotaryHalf({s.q.data(), n, q_dim, heads, head_dim, s.cos.data(), s.sin.data()});
  kernels::ApplyRotaryHalf({s.k.data(), n, kv_dim, kv_heads, head_dim, s.cos.data(), s.sin.data()});
  for (const Segment& seg : segments) {
    KvCache& cache = *seg.cache;
    const int64_t start = cache.length();
    QWENVL_CHECK(cache.row_size() == kv_dim && start + seg.rows <= cache.reserved());
    std::copy_n(s.k.begin() + seg.begin * kv_dim, seg.rows * kv_dim,
                cache.keys(l) + start * kv_dim);
    std::copy_n(s.v.begin() + seg.begin * kv_dim, seg.rows * kv_dim,
                cache.values(l) + start * kv_dim);
    kernels::Attention({.q = s.q.data() + seg.begin * q_dim,
                        .q_stride = q_dim,
                        .k = cache.keys(l),
                        .k_stride = kv_dim,
                        .v = cache.values(l),
                        .v_stride = kv_dim,
                        .out = s.attn.data() + seg.begin * q_dim,
                        .out_stride = q_dim,
                        .q_len = seg.rows,
                        .kv_len = start + seg.rows,
                        .num_heads = heads,
                        .num_kv_heads = kv_heads,
                        .head_dim = head_dim,
                        .scale = 1.0f / std::sqrt(static_cast<float>(head_dim)),
                        .causal = true,
                        .q_offset = start},
                       pool);
  }
}

// logits = final_norm(x) · Wlmᵀ for the requested rows (§4: generation needs only the last).
void Decoder::Head(LogitRows which, std::span<float> logits, int64_t n, DecoderScratch& s,
                   ThreadPool& pool) const {
  if (which == LogitRows::kNone) return;
  const int64_t first = which == LogitRows::kLast ? n - 1 : 0;
  ApplyLinear(lm_head_, s.normed.data() + first * hidden(), n - first, logits.data(), pool);
}

}  // namespace qwenvl::model
