// The whole Qwen2.5-VL model: the checked model folder, the vision encoder and the language model,
// plus a Sequence (KV cache, rope_delta) that prefills prompts with images and videos
// and runs decode steps (model-spec §4, §5.2, §5.4).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "compute/backend.h"
#include "compute/weight_cache.h"
#include "io/model_folder.h"
#include "model/decoder.h"
#include "model/grid.h"
#include "model/kv_cache.h"
#include "model/rope_index.h"
#include "model/vision_encoder.h"
#include "qwenvl/token_id.h"

namespace qwenvl::model {

// The pixel inputs of one kind (images or videos), in prompt order.
struct MediaInput {
  std::span<const float> pixel_values = {};  // [Σ t·h·w, patch_dim]
  std::span<const GridThw> grids = {};
};

// A prompt (or a later turn's segment): token ids with pad runs already expanded (§8.1).
struct PromptInput {
  std::span<const TokenId> input_ids = {};  // [seq_len]
  MediaInput images = {};
  MediaInput videos = {};
  std::span<const double> second_per_grid_ts = {};  // [videos]; empty means 1.0 each (§5.3)
  // [image rows then video rows, out_hidden]: the encoder's output computed beforehand (a cache of
  // vision encodings). When given, pixel_values are not read and the encoder does not run.
  std::span<const float> features = {};
};

// Precision of each part's big matrices (weights.h), and the type the sequences' KV caches store
// (float32 here, nothing rounded: the engine's options choose bf16 for users).
struct ModelOptions {
  WeightPrecision text = WeightPrecision::kStored;
  WeightPrecision vision = WeightPrecision::kStored;
  bool resident_text = false;  // BindOptions::resident for the decoder
  // Where quantized copies are looked up and kept (null: quantized at every load); the load
  // commits it once every weight is bound.
  compute::WeightCache* weight_cache = nullptr;
  KvType kv = KvType::kF32;
  // Called after each vision block's and each decoder layer's weights are in place, with the
  // layers bound so far and the total (vision depth + decoder layers): load progress.
  std::function<void(int64_t done, int64_t total)> on_layer_bound = nullptr;
};

class Model {
 public:
  // Opens and checks the folder (io::ModelFolder::Open) and uploads every weight to backend, which
  // runs all of the model's computation and must outlive it.
  Model(const std::string& dir, compute::Backend& backend, const ModelOptions& options = {});

  const io::ModelFolder& folder() const { return *folder_; }
  const io::ModelConfig& config() const { return folder_->config; }
  const Decoder& decoder() const { return decoder_; }
  const VisionEncoder& vision() const { return vision_; }
  compute::Backend& backend() const { return *backend_; }
  // The type of the KV caches of this model's sequences.
  KvType kv_type() const { return kv_type_; }

  // [seq_len, hidden]: token embeddings, with the vision encoder's rows written over the image pad
  // tokens and then the video pad tokens, in order (§4: substituted, not added). All images and
  // videos go through one encoder call (images first). Throws Error when the number of pad tokens
  // differs from the number of feature rows. vision_embeds (optional) receives the feature rows.
  compute::Buffer EmbedPrompt(const PromptInput& prompt, VisionTaps* taps = nullptr,
                              std::vector<float>* vision_embeds = nullptr) const;

 private:
  compute::Backend* backend_;
  KvType kv_type_;
  std::unique_ptr<io::ModelFolder> folder_;  // owns the mapping every weight view points into
  int64_t layers_bound_ = 0;                 // during construction: ModelOptions::on_layer_bound
  VisionEncoder vision_;
  Decoder decoder_;
};

struct AppendOptions {
  LogitRows logit_rows = LogitRows::kLast;
  int64_t chunk_rows = 256;  // prefill in chunks of this many tokens (bounds activation memory)
  // With kAll, called after each chunk with the chunk's first row index (within the segment), its
  // row count and its logits [rows, vocab].
  std::function<void(int64_t, int64_t, std::span<const float>)> on_logits;
  DecoderTaps* decoder_taps = nullptr;
  VisionTaps* vision_taps = nullptr;
  std::vector<float>* vision_embeds = nullptr;  // receives the encoder's output rows
  double* embed_ms = nullptr;  // receives the time of the embedding step (vision encoder included)
};

// A segment being prefilled in pieces (Sequence::BeginAppend / ContinueAppend): its positions and
// embeddings, computed up front, and how many of its tokens the decoder has taken so far.
struct PendingAppend {
  PositionIds positions;   // rope_delta: the segment's own gap (§5.4)
  compute::Buffer embeds;  // [size, hidden]
  int64_t done = 0;
  int64_t size() const { return positions.size(); }
  bool finished() const { return done == size(); }
};

// One sequence being generated. Appending continues the sequence where the cache ends: a first
// prompt, then decode steps, then another turn, and so on.
class Sequence {
 public:
  // capacity: the most tokens the sequence may hold (context limit).
  Sequence(const Model& model, int64_t capacity);

  int64_t length() const { return cache_.length(); }
  int64_t capacity() const { return cache_.capacity(); }
  // max position so far + 1 − length (§5.4).
  int64_t rope_delta() const { return rope_delta_; }
  // [vocab]: logits of the last row processed (after Append with kLast or kAll, or Step).
  std::span<const float> logits() const { return logits_; }

  // Prefills a segment. Its position ids (§5.2) start at length() + rope_delta(), the position a
  // next text token would get, so a later turn continues the first. Returns the segment's
  // positions, with rope_delta the sequence's after it. Throws Error (before any work) when the
  // segment does not fit in the cache.
  PositionIds Append(const PromptInput& prompt, const AppendOptions& options);

  // Append in pieces, so that a scheduler can run other sequences' steps between them. BeginAppend
  // checks the capacity, computes the positions and the embeddings (the vision encoder runs here)
  // and changes nothing in the cache. ContinueAppend feeds the next at most max_rows tokens to the
  // decoder; once the last went through, logits() holds the last row's and rope_delta() the
  // sequence's, and it returns true. No Step or other Append may come between the pieces; to give
  // up midway, Truncate or Reset the sequence.
  PendingAppend BeginAppend(const PromptInput& prompt, const AppendOptions& options);
  bool ContinueAppend(PendingAppend& pending, int64_t max_rows, const AppendOptions& options);

  // One decode step: `token` at position length() + rope_delta() in all three streams (§5.4).
  // Returns its logits [vocab].
  std::span<const float> Step(TokenId token);

  // One decode step of several sequences of the same model at once (continuous batching): each
  // sequence gets its token at its own position, as Step would, and its logits() are updated. The
  // weights are read once for the whole batch. Throws Error (before any work) when a sequence is
  // full, the sequences do not share one model, appear twice, or tokens has another size.
  static void StepBatch(std::span<Sequence* const> sequences, std::span<const TokenId> tokens);

  // Forgets everything (same capacity).
  void Reset();
  // Keeps the first `length` tokens (to continue a conversation from a shared prefix);
  // rope_delta is the sequence's (max position + 1 − length) over those tokens.
  void Truncate(int64_t length, int64_t rope_delta);
  // Becomes the first `length` tokens of `from` (a sequence of the same model): their cached keys
  // and values are copied (KvCache::CopyPrefix); rope_delta as Truncate's. logits() are not
  // copied: the next Append or Step computes them.
  void CopyPrefix(const Sequence& from, int64_t length, int64_t rope_delta);

 private:
  const Model* model_;
  KvCache cache_;
  DecoderScratch scratch_;
  int64_t rope_delta_ = 0;
  std::vector<float> logits_;        // [vocab]
  std::vector<float> chunk_logits_;  // [chunk rows, vocab] with kAll
  compute::Buffer step_embed_;       // [hidden], or [batch, hidden] for StepBatch
  std::vector<float> batch_logits_;  // [batch, vocab] for StepBatch
};

}  // namespace qwenvl::model
