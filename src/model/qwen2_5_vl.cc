#include "model/qwen2_5_vl.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "util/error.h"

namespace qwenvl::model {
namespace {

// The callback a part of the model calls after each of its layers is bound: counts into `bound`
// and reports it with the whole model's layer count (none without ModelOptions::on_layer_bound).
std::function<void()> LayerCounter(const ModelOptions& options, const io::ModelFolder& folder,
                                   int64_t& bound) {
  if (!options.on_layer_bound) return nullptr;
  const int64_t total = folder.config.vision.depth + folder.config.text.num_hidden_layers;
  return [&options, &bound, total] { options.on_layer_bound(++bound, total); };
}

int64_t CountToken(std::span<const TokenId> ids, TokenId token) {
  return std::count(ids.begin(), ids.end(), token);
}

// Feature rows the encoder returns for these grids: one per merged 2×2 patch block (§3.6).
int64_t FeatureRows(std::span<const GridThw> grids, int64_t merge) {
  return TotalPatches(grids) / (merge * merge);
}

void CheckMedia(const char* kind, const MediaInput& media, int64_t patch_dim) {
  const int64_t rows = TotalPatches(media.grids);
  if (static_cast<int64_t>(media.pixel_values.size()) != rows * patch_dim) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string(kind) + " pixel_values: the grids need [" + std::to_string(rows) +
                    ", " + std::to_string(patch_dim) + "] = " + std::to_string(rows * patch_dim) +
                    " values, got " + std::to_string(media.pixel_values.size()));
  }
}

void CheckPadCount(const char* kind, int64_t pads, TokenId token, int64_t rows) {
  if (pads != rows) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("prompt has ") + std::to_string(pads) + " " + kind +
                    " pad tokens (id " + std::to_string(token) + "), the " + kind + " grids give " +
                    std::to_string(rows) + " feature rows");
  }
}

}  // namespace

Model::Model(const std::string& dir, compute::Backend& backend, const ModelOptions& options)
    : backend_(&backend),
      kv_type_(options.kv),
      folder_(std::make_unique<io::ModelFolder>(io::ModelFolder::Open(dir))),
      vision_(backend, *folder_,
              BindOptions{.precision = options.vision, .cache = options.weight_cache},
              LayerCounter(options, *folder_, layers_bound_)),
      decoder_(backend, *folder_,
               BindOptions{.precision = options.text,
                           .resident = options.resident_text,
                           .cache = options.weight_cache},
               LayerCounter(options, *folder_, layers_bound_)) {
  if (options.weight_cache != nullptr) options.weight_cache->Commit();
  if (folder_->config.vision.out_hidden_size != folder_->config.text.hidden_size) {
    throw Error(ErrorCode::kCorruptFile,
                dir + "/config.json: vision out_hidden_size " +
                    std::to_string(folder_->config.vision.out_hidden_size) +
                    " must equal the text hidden_size " +
                    std::to_string(folder_->config.text.hidden_size));
  }
}

compute::Buffer Model::EmbedPrompt(const PromptInput& prompt, VisionTaps* taps,
                                   std::vector<float>* vision_embeds) const {
  const io::ModelConfig& c = config();
  compute::Backend& b = *backend_;
  const int64_t hidden = decoder_.hidden(), merge = c.vision.spatial_merge_size;
  const std::span<const TokenId> ids = prompt.input_ids;
  const int64_t image_rows = FeatureRows(prompt.images.grids, merge);
  const int64_t video_rows = FeatureRows(prompt.videos.grids, merge);
  CheckPadCount("image", CountToken(ids, c.image_token_id), c.image_token_id, image_rows);
  CheckPadCount("video", CountToken(ids, c.video_token_id), c.video_token_id, video_rows);
  const bool precomputed = !prompt.features.empty();
  if (!precomputed) {
    CheckMedia("image", prompt.images, c.vision.patch_dim());
    CheckMedia("video", prompt.videos, c.vision.patch_dim());
  } else if (static_cast<int64_t>(prompt.features.size()) != (image_rows + video_rows) * hidden) {
    throw Error(ErrorCode::kInvalidArgument,
                "precomputed vision features hold " + std::to_string(prompt.features.size()) +
                    " values, the grids need " +
                    std::to_string((image_rows + video_rows) * hidden));
  }

  compute::Buffer x = b.Allocate(static_cast<int64_t>(ids.size()), hidden);  // [seq_len, hidden]
  decoder_.Embed(ids, x);
  if (image_rows + video_rows == 0) return x;

  // One encoder call for all items, images first: attention never crosses items (§3.4), and the
  // window index then matches the reference's single list.
  compute::Buffer features;  // [rows, hidden]
  if (precomputed) {
    features = b.Allocate(image_rows + video_rows, hidden);
    b.Upload(prompt.features, features);
  } else {
    std::vector<float> pixels(prompt.images.pixel_values.begin(), prompt.images.pixel_values.end());
    pixels.insert(pixels.end(), prompt.videos.pixel_values.begin(),
                  prompt.videos.pixel_values.end());
    std::vector<GridThw> grids(prompt.images.grids.begin(), prompt.images.grids.end());
    grids.insert(grids.end(), prompt.videos.grids.begin(), prompt.videos.grids.end());
    features = vision_.EncodeToBuffer(pixels, grids, taps);
  }
  QWENVL_CHECK(features.rows() == image_rows + video_rows && features.cols() == hidden);

  // Feature row j replaces the embedding of the j-th pad token (§4: substituted, not added):
  // image rows at the image pads, then video rows at the video pads, in order.
  std::vector<int64_t> at(static_cast<size_t>(image_rows + video_rows));
  int64_t next_image = 0, next_video = image_rows;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == c.image_token_id) at[next_image++] = static_cast<int64_t>(i);
    if (ids[i] == c.video_token_id) at[next_video++] = static_cast<int64_t>(i);
  }
  b.ScatterRows(features, at, x);
  if (vision_embeds != nullptr) {
    vision_embeds->resize(static_cast<size_t>(features.size()));
    b.Download(features, *vision_embeds);
  }
  return x;
}

Sequence::Sequence(const Model& model, int64_t capacity)
    : model_(&model),
      cache_(model.decoder().NewCache(capacity, model.kv_type())),
      logits_(static_cast<size_t>(model.decoder().vocab_size())),
      step_embed_(model.backend().Allocate(1, model.decoder().hidden())) {}

void Sequence::Reset() {
  cache_.Clear();
  rope_delta_ = 0;
}

void Sequence::Truncate(int64_t length, int64_t rope_delta) {
  cache_.Truncate(length);
  rope_delta_ = length == 0 ? 0 : rope_delta;
}

void Sequence::CopyPrefix(const Sequence& from, int64_t length, int64_t rope_delta) {
  QWENVL_CHECK(from.model_ == model_);
  cache_.CopyPrefix(from.cache_, length);
  rope_delta_ = length == 0 ? 0 : rope_delta;
}

PendingAppend Sequence::BeginAppend(const PromptInput& prompt, const AppendOptions& options) {
  const auto n = static_cast<int64_t>(prompt.input_ids.size());
  if (n == 0) throw Error(ErrorCode::kInvalidArgument, "empty prompt: no token ids to prefill");
  if (length() + n > capacity()) {
    throw Error(ErrorCode::kOutOfRange,
                "prompt of " + std::to_string(n) +
                    " tokens does not fit the context: " + std::to_string(length()) +
                    " tokens already held, capacity " + std::to_string(capacity()));
  }
  PendingAppend p;
  p.positions = ComputePositionIds(
      model_->config(),
      {prompt.input_ids, prompt.images.grids, prompt.videos.grids, prompt.second_per_grid_ts});
  // Continue the sequence: a segment starts where the next text token would (§5.4).
  const int64_t offset = length() + rope_delta_;
  for (int64_t i = 0; i < n; ++i) {
    p.positions.t[i] += offset;
    p.positions.h[i] += offset;
    p.positions.w[i] += offset;
  }
  const auto embed_start = std::chrono::steady_clock::now();
  p.embeds = model_->EmbedPrompt(prompt, options.vision_taps, options.vision_embeds);
  if (options.embed_ms != nullptr)
    *options.embed_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - embed_start)
            .count();
  return p;
}

bool Sequence::ContinueAppend(PendingAppend& pending, int64_t max_rows,
                              const AppendOptions& options) {
  const Decoder& decoder = model_->decoder();
  const int64_t n = pending.size(), vocab = decoder.vocab_size();
  QWENVL_CHECK(length() + n - pending.done <= capacity());
  const int64_t stop = std::min(n, pending.done + std::max<int64_t>(1, max_rows));
  const int64_t chunk = std::max<int64_t>(1, options.chunk_rows);
  for (int64_t begin = pending.done; begin < stop; begin += chunk) {
    const int64_t rows = std::min(chunk, stop - begin);
    const bool last_chunk = begin + rows == n;
    LogitRows want = options.logit_rows;
    if (want == LogitRows::kLast && !last_chunk) want = LogitRows::kNone;
    std::span<float> out;
    if (want == LogitRows::kAll) {
      chunk_logits_.resize(static_cast<size_t>(rows * vocab));
      out = chunk_logits_;
    } else if (want == LogitRows::kLast) {
      out = logits_;
    }
    decoder.Forward({.embeds = pending.embeds.Rows(begin, rows),
                     .positions = pending.positions.Streams().Slice(begin, rows),
                     .logit_rows = want,
                     .logits = out,
                     .taps = options.decoder_taps},
                    cache_, scratch_);
    pending.done = begin + rows;
    if (want == LogitRows::kAll) {
      if (options.on_logits) options.on_logits(begin, rows, chunk_logits_);
      if (last_chunk) std::copy_n(chunk_logits_.end() - vocab, vocab, logits_.begin());
    }
  }
  if (!pending.finished()) return false;
  rope_delta_ += pending.positions.rope_delta;  // the segment's gap adds to the sequence's (§5.4)
  return true;
}

PositionIds Sequence::Append(const PromptInput& prompt, const AppendOptions& options) {
  PendingAppend pending = BeginAppend(prompt, options);
  ContinueAppend(pending, pending.size(), options);
  PositionIds pos = std::move(pending.positions);
  pos.rope_delta = rope_delta_;
  return pos;
}

std::span<const float> Sequence::Step(TokenId token) {
  const int64_t position = length() + rope_delta_;
  const TokenId ids[1] = {token};
  const int64_t positions[1] = {position};
  const compute::Tensor embed = step_embed_.Rows(0, 1);
  model_->decoder().Embed(ids, embed);
  model_->decoder().Forward({.embeds = embed,
                             .positions = {positions, positions, positions},
                             .logit_rows = LogitRows::kLast,
                             .logits = logits_,
                             .taps = nullptr},
                            cache_, scratch_);
  return logits_;
}

void Sequence::StepBatch(std::span<Sequence* const> sequences, std::span<const TokenId> tokens) {
  if (sequences.size() != tokens.size()) {
    throw Error(ErrorCode::kInvalidArgument, "batched step: " + std::to_string(sequences.size()) +
                                                 " sequences but " + std::to_string(tokens.size()) +
                                                 " tokens");
  }
  if (sequences.empty()) return;
  // The first sequence's buffers hold the batch's activations (they only grow, so steady decoding
  // does not allocate).
  Sequence& lead = *sequences[0];
  const Decoder& decoder = lead.model_->decoder();
  const auto b = static_cast<int64_t>(sequences.size());
  const int64_t hidden = decoder.hidden(), vocab = decoder.vocab_size();
  std::vector<KvCache*> caches;  // B pointers and positions: small, unlike the activations
  std::vector<int64_t> positions;
  for (Sequence* s : sequences) {
    if (s->model_ != lead.model_)
      throw Error(ErrorCode::kInvalidArgument, "batched step: the sequences use different models");
    if (std::find(caches.begin(), caches.end(), &s->cache_) != caches.end())
      throw Error(ErrorCode::kInvalidArgument,
                  "batched step: a sequence appears twice (one token per sequence and step)");
    caches.push_back(&s->cache_);
    positions.push_back(s->length() + s->rope_delta_);  // §5.4, as Step
  }
  if (lead.step_embed_.rows() < b) lead.step_embed_ = decoder.backend().Allocate(b, hidden);
  if (lead.batch_logits_.size() < static_cast<size_t>(b * vocab))
    lead.batch_logits_.resize(static_cast<size_t>(b * vocab));
  const compute::Tensor embeds = lead.step_embed_.Rows(0, b);
  const std::span<float> logits = std::span(lead.batch_logits_).first(b * vocab);
  decoder.Embed(tokens, embeds);
  decoder.ForwardBatch({embeds, positions, caches, logits}, lead.scratch_);
  for (int64_t i = 0; i < b; ++i)
    std::copy_n(logits.begin() + i * vocab, vocab, sequences[i]->logits_.begin());
}

}  // namespace qwenvl::model
