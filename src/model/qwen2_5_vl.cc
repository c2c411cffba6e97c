#include "model/qwen2_5_vl.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "util/error.h"

namespace qwenvl::model {
namespace {

int64_t CountToken(std::span<const int64_t> ids, int64_t token) {
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

void CheckPadCount(const char* kind, int64_t pads, int64_t token, int64_t rows) {
  if (pads != rows) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("prompt has ") + std::to_string(pads) + " " + kind +
                    " pad tokens (id " + std::to_string(token) + "), the " + kind + " grids give " +
                    std::to_string(rows) + " feature rows");
  }
}

}  // namespace

Model::Model(const std::string& dir, const ModelOptions& options)
    : folder_(std::make_unique<io::ModelFolder>(io::ModelFolder::Open(dir))),
      vision_(*folder_, BindOptions{.precision = options.vision, .pool = options.pool}),
      decoder_(*folder_, BindOptions{.precision = options.text,
                                     .pool = options.pool,
                                     .resident = options.resident_text}) {
  if (folder_->config.vision.out_hidden_size != folder_->config.text.hidden_size) {
    throw Error(ErrorCode::kCorruptFile,
                dir + "/config.json: vision out_hidden_size " +
                    std::to_string(folder_->config.vision.out_hidden_size) +
                    " must equal the text hidden_size " +
                    std::to_string(folder_->config.text.hidden_size));
  }
}

std::vector<float> Model::EmbedPrompt(const PromptInput& prompt, ThreadPool& pool, VisionTaps* taps,
                                      std::vector<float>* vision_embeds) const {
  const io::ModelConfig& c = config();
  const int64_t hidden = decoder_.hidden(), merge = c.vision.spatial_merge_size;
  const std::span<const int64_t> ids = prompt.input_ids;
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

  std::vector<float> x(ids.size() * static_cast<size_t>(hidden));  // [seq_len, hidden]
  decoder_.Embed(ids, x.data());
  if (image_rows + video_rows == 0) return x;

  // One encoder call for all items, images first: attention never crosses items (§3.4), and the
  // window index then matches the reference's single list.
  std::vector<float> features;  // [rows, hidden]
  if (precomputed) {
    features.assign(prompt.features.begin(), prompt.features.end());
  } else {
    std::vector<float> pixels(prompt.images.pixel_values.begin(), prompt.images.pixel_values.end());
    pixels.insert(pixels.end(), prompt.videos.pixel_values.begin(),
                  prompt.videos.pixel_values.end());
    std::vector<GridThw> grids(prompt.images.grids.begin(), prompt.images.grids.end());
    grids.insert(grids.end(), prompt.videos.grids.begin(), prompt.videos.grids.end());
    features = vision_.Encode(pixels, grids, pool, taps);
  }
  QWENVL_CHECK(static_cast<int64_t>(features.size()) == (image_rows + video_rows) * hidden);

  int64_t next_image = 0, next_video = image_rows;
  for (size_t i = 0; i < ids.size(); ++i) {
    int64_t row = -1;
    if (ids[i] == c.image_token_id) row = next_image++;
    if (ids[i] == c.video_token_id) row = next_video++;
    if (row < 0) continue;
    std::copy_n(features.begin() + row * hidden, hidden, x.begin() + i * hidden);
  }
  if (vision_embeds != nullptr) *vision_embeds = std::move(features);
  return x;
}

Session::Session(const Model& model, int64_t capacity)
    : model_(&model),
      cache_(model.decoder().NewCache(capacity)),
      logits_(static_cast<size_t>(model.decoder().vocab_size())),
      step_embed_(static_cast<size_t>(model.decoder().hidden())) {}

void Session::Reset() {
  cache_.Clear();
  rope_delta_ = 0;
}

void Session::Truncate(int64_t length, int64_t rope_delta) {
  cache_.Truncate(length);
  rope_delta_ = length == 0 ? 0 : rope_delta;
}

PendingAppend Session::BeginAppend(const PromptInput& prompt, const AppendOptions& options,
                                   ThreadPool& pool) {
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
  p.embeds = model_->EmbedPrompt(prompt, pool, options.vision_taps, options.vision_embeds);
  if (options.embed_ms != nullptr)
    *options.embed_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - embed_start)
            .count();
  return p;
}

bool Session::ContinueAppend(PendingAppend& pending, int64_t max_rows, const AppendOptions& options,
                             ThreadPool& pool) {
  const Decoder& decoder = model_->decoder();
  const int64_t n = pending.size(), hidden = decoder.hidden(), vocab = decoder.vocab_size();
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
    decoder.Forward({.embeds = std::span(pending.embeds).subspan(begin * hidden, rows * hidden),
                     .positions = pending.positions.Streams().Slice(begin, rows),
                     .logit_rows = want,
                     .logits = out,
                     .taps = options.decoder_taps},
                    cache_, scratch_, pool);
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

PositionIds Session::Append(const PromptInput& prompt, const AppendOptions& options,
                            ThreadPool& pool) {
  PendingAppend pending = BeginAppend(prompt, options, pool);
  ContinueAppend(pending, pending.size(), options, pool);
  PositionIds pos = std::move(pending.positions);
  pos.rope_delta = rope_delta_;
  return pos;
}

std::span<const float> Session::Step(int64_t token, ThreadPool& pool) {
  const int64_t position = length() + rope_delta_;
  const int64_t ids[1] = {token};
  const int64_t positions[1] = {position};
  model_->decoder().Embed(ids, step_embed_.data());
  model_->decoder().Forward({.embeds = std::span(step_embed_).first(model_->decoder().hidden()),
                             .positions = {positions, positions, positions},
                             .logit_rows = LogitRows::kLast,
                             .logits = logits_,
                             .taps = nullptr},
                            cache_, scratch_, pool);
  return logits_;
}

void Session::StepBatch(std::span<Session* const> sessions, std::span<const int64_t> tokens,
                        ThreadPool& pool) {
  if (sessions.size() != tokens.size()) {
    throw Error(ErrorCode::kInvalidArgument, "batched step: " + std::to_string(sessions.size()) +
                                                 " sessions but " + std::to_string(tokens.size()) +
                                                 " tokens");
  }
  if (sessions.empty()) return;
  // The first session's buffers hold the batch's activations (they only grow, so steady decoding
  // does not allocate).
  Session& lead = *sessions[0];
  const Decoder& decoder = lead.model_->decoder();
  const auto b = static_cast<int64_t>(sessions.size());
  const int64_t hidden = decoder.hidden(), vocab = decoder.vocab_size();
  std::vector<KvCache*> caches;  // B pointers and positions: small, unlike the activations
  std::vector<int64_t> positions;
  for (Session* s : sessions) {
    if (s->model_ != lead.model_)
      throw Error(ErrorCode::kInvalidArgument, "batched step: the sessions use different models");
    if (std::find(caches.begin(), caches.end(), &s->cache_) != caches.end())
      throw Error(ErrorCode::kInvalidArgument,
                  "batched step: a session appears twice (one token per session and step)");
    caches.push_back(&s->cache_);
    positions.push_back(s->length() + s->rope_delta_);  // §5.4, as Step
  }
  if (lead.step_embed_.size() < static_cast<size_t>(b * hidden))
    lead.step_embed_.resize(static_cast<size_t>(b * hidden));
  if (lead.batch_logits_.size() < static_cast<size_t>(b * vocab))
    lead.batch_logits_.resize(static_cast<size_t>(b * vocab));
  const std::span<float> embeds = std::span(lead.step_embed_).first(b * hidden);
  const std::span<float> logits = std::span(lead.batch_logits_).first(b * vocab);
  decoder.Embed(tokens, embeds.data());
  decoder.ForwardBatch({embeds, positions, caches, logits}, lead.scratch_, pool);
  for (int64_t i = 0; i < b; ++i)
    std::copy_n(logits.begin() + i * vocab, vocab, sessions[i]->logits_.begin());
}

}  // namespace qwenvl::model
