#include "model/decoder.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "util/error.h"

namespace qwenvl::model {
namespace {

DecoderLayerWeights BindLayer(compute::Backend& b, const io::TensorStore& store,
                              const io::DecoderLayerTensors& t, const BindOptions& o) {
  DecoderLayerWeights w;
  w.input_norm = LoadVector(b, store, t.input_layernorm);
  w.q_proj = BindLinear(b, store, t.q_proj, o);
  w.k_proj = BindLinear(b, store, t.k_proj, o);
  w.v_proj = BindLinear(b, store, t.v_proj, o);
  w.o_proj = BindLinear(b, store, t.o_proj, o);
  w.post_norm = LoadVector(b, store, t.post_attention_layernorm);
  w.gate_proj = BindLinear(b, store, t.gate_proj, o);
  w.up_proj = BindLinear(b, store, t.up_proj, o);
  w.down_proj = BindLinear(b, store, t.down_proj, o);
  return w;
}

// b = a [rows, cols] buffer unless it already holds that many rows.
void GrowBuffer(compute::Backend& backend, compute::Buffer& b, int64_t rows, int64_t cols) {
  if (b.rows() < rows || b.cols() != cols) b = backend.Allocate(rows, cols);
}

}  // namespace

Decoder::Decoder(compute::Backend& backend, const io::ModelFolder& folder,
                 const BindOptions& options, const std::function<void()>& after_layer)
    : backend_(&backend), config_(folder.config.text), mrope_(folder.config.text) {
  const io::TensorStore& store = folder.tensors;
  const io::DecoderOuterTensors outer = io::DecoderOuterTensors::Of(config_);
  const compute::HostMatrix embed = MatrixOf(io::GetExpected(store, outer.embed_tokens));
  embed_ = backend.UploadWeight(embed, {}, {});  // lookups read the stored rows
  layers_.reserve(static_cast<size_t>(config_.num_hidden_layers));
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    layers_.push_back(BindLayer(backend, store, io::DecoderLayerTensors::Of(config_, l), options));
    if (after_layer) after_layer();
  }
  final_norm_ = LoadVector(backend, store, outer.norm);
  // §11.1: the 3B checkpoint has no lm_head.weight; the head reads the embedding matrix. When
  // the head gets a copy of its own (quantized or resident), a resident copy also serves the
  // lookups; a quantized one does not (lookups keep reading the stored rows).
  if (folder.report.lm_head_tied) {
    lm_head_ = backend.UploadWeight(embed, {}, options);
    if (lm_head_.owned() && lm_head_.format() == embed_.format()) embed_ = lm_head_;
  } else {
    lm_head_ = BindLinear(backend, store, outer.lm_head, options);
  }
}

int64_t Decoder::WeightBytesPerToken() const {
  int64_t bytes = lm_head_.bytes();
  for (const DecoderLayerWeights& w : layers_) {
    for (const compute::Weight* l :
         {&w.q_proj, &w.k_proj, &w.v_proj, &w.o_proj, &w.gate_proj, &w.up_proj, &w.down_proj})
      bytes += l->bytes();
  }
  return bytes;
}

void Decoder::Embed(std::span<const TokenId> ids, const compute::Tensor& out) const {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= embed_.rows()) {
      throw Error(ErrorCode::kInvalidArgument,
                  "token id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                      " is outside the vocabulary [0, " + std::to_string(embed_.rows()) + ")");
    }
  }
  backend_->EmbedRows(embed_, ids, out);
}

KvCache Decoder::NewCache(int64_t capacity, KvType type) const {
  return KvCache(*backend_, config_.num_hidden_layers, capacity, config_.num_key_value_heads,
                 config_.head_dim(), type);
}

void Decoder::Reserve(DecoderScratch& s, int64_t rows, int64_t logit_rows) const {
  compute::Backend& b = *backend_;
  const io::TextConfig& c = config_;
  if (logit_rows > 0) GrowBuffer(b, s.logits, logit_rows, vocab_size());
  if (rows <= s.rows) return;
  const int64_t q_dim = c.num_attention_heads * c.head_dim();
  const int64_t kv_dim = c.num_key_value_heads * c.head_dim();
  // The old arena goes first: nothing in it outlives a pass, and the peak stays the new one's.
  s.rows = 0;
  s.arena = compute::Arena();
  compute::ArenaPlan plan;
  const std::pair<compute::Tensor*, int64_t> tensors[] = {{&s.x, c.hidden_size},
                                                          {&s.normed, c.hidden_size},
                                                          {&s.q, q_dim},
                                                          {&s.k, kv_dim},
                                                          {&s.v, kv_dim},
                                                          {&s.attn, q_dim},
                                                          {&s.proj, c.hidden_size},
                                                          {&s.gate, c.intermediate_size},
                                                          {&s.up, c.intermediate_size},
                                                          {&s.cos, c.head_dim()},
                                                          {&s.sin, c.head_dim()}};
  for (const auto& t : tensors) plan.Add(rows, t.second);  // slots 0, 1, … in order
  s.arena = compute::Arena(b, std::move(plan));
  for (size_t i = 0; i < std::size(tensors); ++i) *tensors[i].first = s.arena[i];
  s.cos_host.resize(static_cast<size_t>(rows * c.head_dim()));
  s.sin_host.resize(static_cast<size_t>(rows * c.head_dim()));
  s.rows = rows;
}

void Decoder::Tap(const compute::Tensor& rows, std::vector<float>& dst) const {
  const size_t old = dst.size();
  dst.resize(old + static_cast<size_t>(rows.size()));
  backend_->Download(rows, std::span(dst).subspan(old));
}

void Decoder::Forward(const DecoderForwardArgs& args, KvCache& cache, DecoderScratch& s) const {
  const int64_t n = args.positions.size();
  const int64_t d = hidden();
  if (args.embeds.rows() != n || args.embeds.cols() != d) {
    throw Error(ErrorCode::kInvalidArgument,
                "decoder: " + std::to_string(n) + " positions need [" + std::to_string(n) + ", " +
                    std::to_string(d) + "] embeddings, got [" + std::to_string(args.embeds.rows()) +
                    ", " + std::to_string(args.embeds.cols()) + "]");
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
  Reserve(s, n, logit_rows);
  cache.Reserve(cache.length() + n);  // grows the cache's storage in chunks, as the sequence does
  backend_->Copy(args.embeds, s.x.Rows(0, n));
  FillRotary(args.positions, n, s);
  const Segment segment{&cache, 0, n};
  Run({&segment, 1}, n, s, args.taps);
  Head(args.logit_rows, args.logits, n, s);
  cache.Advance(n);
}

void Decoder::ForwardBatch(const DecoderBatchArgs& args, DecoderScratch& s) const {
  const auto b = static_cast<int64_t>(args.caches.size());
  const int64_t d = hidden();
  if (args.embeds.rows() != b || args.embeds.cols() != d ||
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
  Reserve(s, b, b);
  std::vector<Segment> segments;  // B small records; the activations reuse the scratch
  segments.reserve(static_cast<size_t>(b));
  for (int64_t i = 0; i < b; ++i) {
    args.caches[i]->Reserve(args.caches[i]->length() + 1);
    segments.push_back({args.caches[i], i, 1});
  }
  backend_->Copy(args.embeds, s.x.Rows(0, b));
  FillRotary({args.positions, args.positions, args.positions}, b, s);
  Run(segments, b, s, nullptr);
  Head(LogitRows::kAll, args.logits, b, s);
  for (KvCache* c : args.caches) c->Advance(1);
}

// The M-RoPE tables of the n rows (§5.1), computed on the host and uploaded.
void Decoder::FillRotary(const PositionStreams& positions, int64_t n, DecoderScratch& s) const {
  const int64_t hd = config_.head_dim();
  mrope_.Fill(positions, s.cos_host.data(), s.sin_host.data());
  backend_->Upload(std::span(s.cos_host).first(n * hd), s.cos.Rows(0, n));
  backend_->Upload(std::span(s.sin_host).first(n * hd), s.sin.Rows(0, n));
}

void Decoder::Run(std::span<const Segment> segments, int64_t n, DecoderScratch& s,
                  DecoderTaps* taps) const {
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    Layer(l, segments, n, s);
    if (l == 0 && taps != nullptr && taps->enabled) Tap(s.x.Rows(0, n), taps->layer0);
  }
  backend_->RmsNorm(s.x.Rows(0, n), final_norm_, config_.rms_norm_eps, s.normed.Rows(0, n));
  if (taps != nullptr && taps->enabled) Tap(s.normed.Rows(0, n), taps->final_norm);
}

// One decoder layer (§4): pre-norm attention and pre-norm SwiGLU MLP, each with a residual. Every
// matrix product covers all n rows, whichever sequences they belong to.
void Decoder::Layer(int64_t l, std::span<const Segment> segments, int64_t n,
                    DecoderScratch& s) const {
  compute::Backend& b = *backend_;
  const DecoderLayerWeights& w = layers_[l];
  const float eps = config_.rms_norm_eps;
  const compute::Tensor x = s.x.Rows(0, n), normed = s.normed.Rows(0, n);
  const compute::Tensor proj = s.proj.Rows(0, n);
  const compute::Tensor gate = s.gate.Rows(0, n), up = s.up.Rows(0, n);
  b.RmsNorm(x, w.input_norm, eps, normed);
  Attend(l, segments, n, s);
  b.MatMul(s.attn.Rows(0, n), w.o_proj, proj);
  b.Add(x, proj);

  b.RmsNorm(x, w.post_norm, eps, normed);
  const compute::Backend::Product gate_up[] = {{&w.gate_proj, gate}, {&w.up_proj, up}};
  b.MatMuls(normed, gate_up);
  b.SiluMul(gate, up);
  b.MatMul(gate, w.down_proj, proj);
  b.Add(x, proj);
}

// q/k/v projections with biases over all rows and M-RoPE on q and k (§5.1); then per segment its
// keys and values are appended to its cache (rows [length, length + rows)) and its queries attend
// causally over that cache (GQA, §4).
void Decoder::Attend(int64_t l, std::span<const Segment> segments, int64_t n,
                     DecoderScratch& s) const {
  compute::Backend& b = *backend_;
  const DecoderLayerWeights& w = layers_[l];
  const int64_t heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads;
  const int64_t head_dim = config_.head_dim(), kv_dim = kv_heads * head_dim;
  const compute::Tensor normed = s.normed.Rows(0, n);
  const compute::Tensor q = s.q.Rows(0, n), k = s.k.Rows(0, n), v = s.v.Rows(0, n);
  const compute::Tensor cos = s.cos.Rows(0, n), sin = s.sin.Rows(0, n);
  const compute::Backend::Product qkv[] = {{&w.q_proj, q}, {&w.k_proj, k}, {&w.v_proj, v}};
  b.MatMuls(normed, qkv);
  b.Rotary({.x = q, .num_heads = heads, .head_dim = head_dim, .cos = cos, .sin = sin});
  b.Rotary({.x = k, .num_heads = kv_heads, .head_dim = head_dim, .cos = cos, .sin = sin});
  s.segments.clear();
  const KvType kv_type = segments.front().cache->type();  // one type per pass (one model's caches)
  for (const Segment& seg : segments) {
    KvCache& cache = *seg.cache;
    const int64_t start = cache.length();
    QWENVL_CHECK(cache.row_size() == kv_dim && cache.type() == kv_type &&
                 start + seg.rows <= cache.reserved());
    b.StoreKv(k.Rows(seg.begin, seg.rows), kv_type, kv_heads, head_dim,
              cache.keys(l).Rows(start, seg.rows));
    b.StoreKv(v.Rows(seg.begin, seg.rows), kv_type, kv_heads, head_dim,
              cache.values(l).Rows(start, seg.rows));
    s.segments.push_back({.q = q.Rows(seg.begin, seg.rows),
                          .k = cache.keys(l).Rows(0, start + seg.rows),
                          .v = cache.values(l).Rows(0, start + seg.rows),
                          .out = s.attn.Rows(seg.begin, seg.rows),
                          .q_offset = start});
  }
  b.Attention({.segments = s.segments,
               .num_heads = heads,
               .num_kv_heads = kv_heads,
               .head_dim = head_dim,
               .scale = 1.0f / std::sqrt(static_cast<float>(head_dim)),
               .causal = true,
               .kv_type = kv_type});
}

// logits = final_norm(x) · Wlmᵀ for the requested rows (§4: generation needs only the last),
// computed in the backend and read back.
void Decoder::Head(LogitRows which, std::span<float> logits, int64_t n, DecoderScratch& s) const {
  if (which == LogitRows::kNone) return;
  const int64_t first = which == LogitRows::kLast ? n - 1 : 0;
  const compute::Tensor out = s.logits.Rows(0, n - first);
  backend_->MatMul(s.normed.Rows(first, n - first), lm_head_, out);
  backend_->Download(out, logits);
}

}  // namespace qwenvl::model
