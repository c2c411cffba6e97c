// The Qwen2 language model of Qwen2.5-VL (model-spec §4): token embeddings, decoder layers with
// M-RoPE attention over a KV cache, the final norm and the output head. Weights stay in the
// checkpoint mapping in their stored type; activations are float32.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "io/model_folder.h"
#include "model/kv_cache.h"
#include "model/mrope.h"
#include "model/weights.h"
#include "util/thread_pool.h"

namespace qwenvl::model {

// Which rows of a forward pass produce logits.
enum class LogitRows { kNone, kLast, kAll };

// Hidden states a forward pass can copy out for parity checks (§17 of the style guide), appended
// chunk after chunk: [rows so far, hidden] each.
struct DecoderTaps {
  bool enabled = false;
  std::vector<float> layer0;      // output of decoder layer 0
  std::vector<float> final_norm;  // output of the final RMSNorm
};

// Activation buffers of a forward pass, grown on demand and reused, so that decode steps do not
// allocate (style guide §2.12).
struct DecoderScratch {
  int64_t rows = 0;
  std::vector<float> x;       // [rows, hidden] residual stream
  std::vector<float> normed;  // [rows, hidden]
  std::vector<float> q;       // [rows, num_heads · head_dim]
  std::vector<float> k;       // [rows, num_kv_heads · head_dim], before the copy into a cache
  std::vector<float> v;       // [rows, num_kv_heads · head_dim]
  std::vector<float> attn;    // [rows, num_heads · head_dim]
  std::vector<float> proj;    // [rows, hidden]
  std::vector<float> gate;    // [rows, intermediate]
  std::vector<float> up;      // [rows, intermediate]
  std::vector<float> cos;     // [rows, head_dim]
  std::vector<float> sin;     // [rows, head_dim]
};

struct DecoderLayerWeights {
  std::vector<float> input_norm;  // [hidden]
  Linear q_proj;                  // [num_heads · head_dim, hidden] + bias
  Linear k_proj;                  // [num_kv_heads · head_dim, hidden] + bias
  Linear v_proj;                  // [num_kv_heads · head_dim, hidden] + bias
  Linear o_proj;                  // [hidden, num_heads · head_dim], no bias
  std::vector<float> post_norm;   // [hidden]
  Linear gate_proj;               // [intermediate, hidden]
  Linear up_proj;                 // [intermediate, hidden]
  Linear down_proj;               // [hidden, intermediate]
};

struct DecoderForwardArgs {
  std::span<const float> embeds = {};  // [n, hidden] input rows (token or vision embeddings)
  PositionStreams positions = {};      // [n] per stream
  LogitRows logit_rows = LogitRows::kLast;
  std::span<float> logits = {};  // [1 or n, vocab] as logit_rows asks; empty for kNone
  DecoderTaps* taps = nullptr;
};

// A batched decode step (continuous batching): row i is the next token of the sequence whose cache
// is caches[i], at that sequence's own position. The caches must be distinct.
struct DecoderBatchArgs {
  std::span<const float> embeds = {};       // [B, hidden]
  std::span<const int64_t> positions = {};  // [B]: the same in all three streams (text, §5.4)
  std::span<KvCache* const> caches = {};    // [B]
  std::span<float> logits = {};             // [B, vocab]
};

class Decoder {
 public:
  // Binds the weights of folder (which must outlive the decoder); options.precision applies to
  // the layers' projections and the head (the embedding lookup always reads the stored rows).
  explicit Decoder(const io::ModelFolder& folder, const BindOptions& options = {});

  const io::TextConfig& config() const { return config_; }
  int64_t hidden() const { return config_.hidden_size; }
  int64_t vocab_size() const { return embed_.rows; }
  // Bytes of bound matrices one decode step reads: every layer's projections and the head.
  int64_t WeightBytesPerToken() const;

  // Rows of the embedding table for ids, converted from the stored type: out [ids.size(), hidden].
  // Throws Error for an id outside the vocabulary.
  void Embed(std::span<const int64_t> ids, float* out) const;

  // A cache sized for this model.
  KvCache NewCache(int64_t capacity) const;

  // Runs n = positions.size() rows appended at cache.length() (§4), then advances the cache.
  // Throws Error (before any work) when the rows do not fit in the cache.
  void Forward(const DecoderForwardArgs& args, KvCache& cache, DecoderScratch& scratch,
               ThreadPool& pool) const;

  // One decode step of B sequences at once: the projections, the MLP and the head run as one
  // matrix product with B rows (the weights are read once for all), attention runs per row
  // against its own cache. Each cache advances by one. Throws Error (before any work) when a
  // cache is full or an argument has the wrong size.
  void ForwardBatch(const DecoderBatchArgs& args, DecoderScratch& scratch, ThreadPool& pool) const;

 private:
  // Rows [begin, begin + rows) of a pass, appended to one sequence's cache.
  struct Segment {
    KvCache* cache;
    int64_t begin;
    int64_t rows;
  };
  // The layers and the final norm over the n rows in s.x, whose cos/sin tables are filled; each
  // segment's keys/values go to its cache, which the caller advances afterwards.
  void Run(std::span<const Segment> segments, int64_t n, DecoderScratch& s, DecoderTaps* taps,
           ThreadPool& pool) const;
  void Layer(int64_t l, std::span<const Segment> segments, int64_t n, DecoderScratch& s,
             ThreadPool& pool) const;
  void Attend(int64_t l, std::span<const Segment> segments, int64_t n, DecoderScratch& s,
              ThreadPool& pool) const;
  void Head(LogitRows which, std::span<float> logits, int64_t n, DecoderScratch& s,
            ThreadPool& pool) const;

  io::TextConfig config_;
  MRope mrope_;
  kernels::WeightView embed_;  // [vocab, hidden]
  std::vector<DecoderLayerWeights> layers_;
  std::vector<float> final_norm_;  // [hidden]
  Linear lm_head_;                 // [vocab, hidden]: lm_head.weight, or the embeddings when tied
};

}  // namespace qwenvl::model
