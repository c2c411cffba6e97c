// The Qwen2 language model of Qwen2.5-VL (model-spec §4): token embeddings, decoder layers with
// M-RoPE attention over a KV cache, the final norm and the output head. Weights stay in the
// checkpoint mapping in their stored type; activations are float32.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "compute/arena.h"
#include "compute/backend.h"
#include "io/model_folder.h"
#include "model/kv_cache.h"
#include "model/mrope.h"
#include "model/weights.h"
#include "qwenvl/token_id.h"

namespace qwenvl::model {

// Which rows of a forward pass produce logits.
enum class LogitRows { kNone, kLast, kAll };

// Hidden states a forward pass can copy out for parity checks, so that a mismatch with the
// reference shows the layer where it starts, not only its effect on the logits; appended chunk
// after chunk: [rows so far, hidden] each.
struct DecoderTaps {
  bool enabled = false;
  std::vector<float> layer0;      // output of decoder layer 0
  std::vector<float> final_norm;  // output of the final RMSNorm
};

// Activation tensors of a forward pass in the backend's memory, grown on demand and reused, so
// that decode steps do not allocate: the per-row tensors in one arena, made anew (all at once)
// when a pass needs more rows; the logits on their own, since their row count follows the logits
// asked for, not the pass. cos_host/sin_host hold the rotary tables computed on the host before
// their upload.
struct DecoderScratch {
  int64_t rows = 0;
  compute::Arena arena;    // x … sin
  compute::Tensor x;       // [rows, hidden] residual stream
  compute::Tensor normed;  // [rows, hidden]
  compute::Tensor q;       // [rows, num_heads · head_dim]
  compute::Tensor k;       // [rows, num_kv_heads · head_dim], before the copy into a cache
  compute::Tensor v;       // [rows, num_kv_heads · head_dim]
  compute::Tensor attn;    // [rows, num_heads · head_dim]
  compute::Tensor proj;    // [rows, hidden]
  compute::Tensor gate;    // [rows, intermediate]
  compute::Tensor up;      // [rows, intermediate]
  compute::Tensor cos;     // [rows, head_dim]
  compute::Tensor sin;     // [rows, head_dim]
  compute::Buffer logits;  // [logit rows, vocab]
  std::vector<float> cos_host, sin_host;
  std::vector<compute::AttentionSegment> segments;  // one per sequence of a pass
};

struct DecoderLayerWeights {
  compute::Buffer input_norm;  // [1, hidden]
  compute::Weight q_proj;      // [num_heads · head_dim, hidden] + bias
  compute::Weight k_proj;      // [num_kv_heads · head_dim, hidden] + bias
  compute::Weight v_proj;      // [num_kv_heads · head_dim, hidden] + bias
  compute::Weight o_proj;      // [hidden, num_heads · head_dim], no bias
  compute::Buffer post_norm;   // [1, hidden]
  compute::Weight gate_proj;   // [intermediate, hidden]
  compute::Weight up_proj;     // [intermediate, hidden]
  compute::Weight down_proj;   // [hidden, intermediate]
};

struct DecoderForwardArgs {
  compute::Tensor embeds = {};     // [n, hidden] input rows (token or vision embeddings)
  PositionStreams positions = {};  // [n] per stream
  LogitRows logit_rows = LogitRows::kLast;
  std::span<float> logits = {};  // host [1 or n, vocab] as logit_rows asks; empty for kNone
  DecoderTaps* taps = nullptr;
};

// A batched decode step (continuous batching): row i is the next token of the sequence whose cache
// is caches[i], at that sequence's own position. The caches must be distinct.
struct DecoderBatchArgs {
  compute::Tensor embeds = {};              // [B, hidden]
  std::span<const int64_t> positions = {};  // [B]: the same in all three streams (text, §5.4)
  std::span<KvCache* const> caches = {};    // [B]
  std::span<float> logits = {};             // host [B, vocab]
};

class Decoder {
 public:
  // Uploads the weights of folder to backend (both must outlive the decoder); options.precision
  // applies to the layers' projections and the head (the embedding lookup always reads the stored
  // rows).
  // after_layer (optional) is called once each layer's weights are in place (load progress).
  Decoder(compute::Backend& backend, const io::ModelFolder& folder, const BindOptions& options = {},
          const std::function<void()>& after_layer = nullptr);

  const io::TextConfig& config() const { return config_; }
  int64_t hidden() const { return config_.hidden_size; }
  int64_t vocab_size() const { return embed_.rows(); }
  compute::Backend& backend() const { return *backend_; }
  // Bytes of bound matrices one decode step reads: every layer's projections and the head.
  int64_t WeightBytesPerToken() const;

  // Rows of the embedding table for ids, converted from the stored type: out [ids.size(), hidden].
  // Throws Error for an id outside the vocabulary.
  void Embed(std::span<const TokenId> ids, const compute::Tensor& out) const;

  // A cache sized for this model, storing keys and values as type.
  KvCache NewCache(int64_t capacity, KvType type = KvType::kF32) const;

  // Runs n = positions.size() rows appended at cache.length() (§4), then advances the cache.
  // Throws Error (before any work) when the rows do not fit in the cache.
  void Forward(const DecoderForwardArgs& args, KvCache& cache, DecoderScratch& scratch) const;

  // One decode step of B sequences at once: the projections, the MLP and the head run as one
  // matrix product with B rows (the weights are read once for all), attention runs per row
  // against its own cache. Each cache advances by one. Throws Error (before any work) when a
  // cache is full or an argument has the wrong size.
  void ForwardBatch(const DecoderBatchArgs& args, DecoderScratch& scratch) const;

 private:
  // Rows [begin, begin + rows) of a pass, appended to one sequence's cache.
  struct Segment {
    KvCache* cache;
    int64_t begin;
    int64_t rows;
  };
  // The layers and the final norm over the n rows in s.x, whose cos/sin tables are filled; each
  // segment's keys/values go to its cache, which the caller advances afterwards.
  void Reserve(DecoderScratch& s, int64_t rows, int64_t logit_rows) const;
  void FillRotary(const PositionStreams& positions, int64_t n, DecoderScratch& s) const;
  void Run(std::span<const Segment> segments, int64_t n, DecoderScratch& s,
           DecoderTaps* taps) const;
  void Layer(int64_t l, std::span<const Segment> segments, int64_t n, DecoderScratch& s) const;
  void Attend(int64_t l, std::span<const Segment> segments, int64_t n, DecoderScratch& s) const;
  void Head(LogitRows which, std::span<float> logits, int64_t n, DecoderScratch& s) const;
  void Tap(const compute::Tensor& rows, std::vector<float>& dst) const;

  compute::Backend* backend_;
  io::TextConfig config_;
  MRope mrope_;
  compute::Weight embed_;  // [vocab, hidden]
  std::vector<DecoderLayerWeights> layers_;
  compute::Buffer final_norm_;  // [1, hidden]
  compute::Weight lm_head_;     // [vocab, hidden]: lm_head.weight, or the embeddings when tied
};

}  // namespace qwenvl::model
