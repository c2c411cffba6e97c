#include "runtime/request_run.h"

#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "runtime/prompt.h"
#include "util/error.h"

namespace qwenvl::runtime {

namespace {

using Clock = std::chrono::steady_clock;
double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Unset request values fall back to generation_config.json, as transformers' generate() does.
SamplerConfig MakeSamplerConfig(const SamplingParams& p, const GenerationDefaults& d) {
  SamplerConfig c;
  c.temperature = p.temperature.value_or(d.temperature);
  c.top_k = p.top_k.value_or(d.top_k);
  c.top_p = p.top_p.value_or(d.top_p);
  c.min_p = p.min_p.value_or(d.min_p);
  c.repetition_penalty = p.repetition_penalty.value_or(d.repetition_penalty);
  c.presence_penalty = p.presence_penalty;
  c.frequency_penalty = p.frequency_penalty;
  c.greedy = p.temperature ? *p.temperature <= 1e-5f : (!d.do_sample || c.temperature <= 1e-5f);
  c.seed = p.seed ? *p.seed : std::random_device{}() * 0x100000001ull + std::random_device{}();
  return c;
}

}  // namespace

RequestRun::RequestRun(ModelContext& context, MediaCaches& caches, Request request,
                       StreamCallback on_text)
    : context_(context),
      caches_(caches),
      request_(std::move(request)),
      on_text_(std::move(on_text)) {}

void RequestRun::Prepare() {
  QWENVL_CHECK(!prepared_);
  start_ = Clock::now();
  const io::ModelConfig& config = context_.model->config();
  const auto t0 = start_;
  // A constraint that does not compile fails the request here, before any model work.
  if (auto compiled = context_.constraints.Get(request_.constraint)) matcher_.emplace(compiled);
  // A token prompt is the model's input as it is (CheckRequest refused media and pads with it).
  const std::vector<TokenId> raw_ids = request_.prompt_ids
                                           ? *request_.prompt_ids
                                           : context_.tokenizer.Encode(context_.Render(request_));
  std::vector<const PreparedMedia*> media_ptrs;
  const std::vector<const Media*> media =
      request_.prompt_ids ? std::vector<const Media*>{} : MediaInPromptOrder(request_);
  for (const Media* m : media) {
    {
      // Resizing and patchifying run on the engine's pool, which serves one caller at a time:
      // without the lock, Engine::Generate or Session::Generate preparing a picture while the
      // scheduler steps its requests hangs both in ThreadPool::RunRanges.
      std::lock_guard<std::recursive_mutex> lock(context_.compute_mu);
      // A video encoded while it is decoded reports its slices (and may be cancelled between
      // them); other items report their encoder blocks in BeginPrefill.
      const auto tv = Clock::now();
      const SliceProgress on_slice = [&](int64_t done, int64_t total) {
        ThrowIfCancelled();
        ReportProgress(Progress::Phase::kVision, 2 * done, 2 * total, "frames", tv);
      };
      media_.push_back(
          caches_.GetPrepared(*m, context_.media_settings,
                              request_.on_progress || watch_cancel_ ? on_slice : SliceProgress{}));
    }
    media_ptrs.push_back(media_.back().get());
    media_keys_.push_back(media_.back()->key);
  }
  ids_ = ExpandVisionPads(raw_ids, media_ptrs, config);
  for (size_t i = 0; i < ids_.size(); ++i) {
    const bool pad = ids_[i] == config.image_token_id || ids_[i] == config.video_token_id;
    if (pad && (i == 0 || ids_[i - 1] != ids_[i])) media_ranges_.push_back({i, i});
    if (pad) media_ranges_.back().second = static_cast<int64_t>(i) + 1;
  }
  result_.timings.preprocess_ms = MsSince(t0);
  result_.prompt_tokens = static_cast<int64_t>(ids_.size());
  result_.prompt_ids = ids_;
  const int64_t capacity = context_.context_length;
  if (result_.prompt_tokens >= capacity)
    throw Error(ErrorCode::kOutOfRange,
                "the prompt has " + std::to_string(ids_.size()) + " tokens, the context holds " +
                    std::to_string(capacity) +
                    " (raise the context length or lower the image budget)");
  for (const auto& m : media_) result_.media.push_back(m->info);
  prepared_ = true;
}

int64_t RequestRun::ReusablePrefix(const CacheContents& cache) const {
  // The longest common prefix of the cached tokens and the prompt, cut back so that every picture
  // in it is the same picture (pads of different pictures have the same id) and none is split.
  // At least one prompt token is left to compute, for the next-token logits.
  const size_t limit = std::min(cache.ids.size(), ids_.size() - 1);
  int64_t p = std::mismatch(cache.ids.begin(), cache.ids.begin() + limit, ids_.begin()).first -
              cache.ids.begin();
  for (size_t i = 0; i < cache.media_ranges.size(); ++i) {
    const auto [begin, end] = cache.media_ranges[i];
    if (begin >= p) break;
    const bool same = i < media_keys_.size() && media_keys_[i] == cache.media_keys[i] &&
                      media_ranges_[i] == cache.media_ranges[i];
    if (!same || end > p) {
      p = begin;
      break;
    }
  }
  // The part to compute must not start inside a vision block: the model finds a picture by its
  // <|vision_start|> followed by pads, so a cut at or just after a block's first pad goes
  // back to before that block's <|vision_start|>. This also covers a cached <|vision_start|> that
  // the model generated itself, followed in the new prompt by a picture.
  const io::ModelConfig& config = context_.model->config();
  const auto is_pad = [&](TokenId id) {
    return id == config.image_token_id || id == config.video_token_id;
  };
  while (p > 0 && (is_pad(ids_[p]) || ids_[p - 1] == config.vision_start_token_id)) --p;
  return p;
}

void RequestRun::BeginPrefill(SequenceState& state, const std::function<void()>& between_blocks) {
  state_ = &state;
  reuse_ = ReusablePrefix(state);
  state.Truncate(reuse_);
  // Media whose pads lie in the reused prefix are already in the cache.
  const size_t cached_media = state.media_keys.size();
  reused_media_ = static_cast<int64_t>(cached_media);
  // Vision features of the new media, from the engine's cache or encoded now (one item at a
  // time: attention never crosses items, §3.4), images first as the model expects.
  std::vector<model::GridThw> image_grids, video_grids;
  std::vector<double> spg;
  std::vector<float> features;
  const auto tv = Clock::now();
  // Progress in encoder blocks over the media encoded now: each item is depth blocks; an item that
  // needs none (the cache answers, or a video encoded while it was decoded) is taken out of the
  // total, and the phase still ends with a report of done == total.
  const int64_t depth = context_.model->config().vision.depth;
  int64_t blocks_total =
      depth * static_cast<int64_t>(media_.size() - std::min(cached_media, media_.size()));
  int64_t blocks_done = 0;
  int64_t reported_total = -1;  // the total of the last report
  std::function<void()> each_block = between_blocks;
  if (request_.on_progress || watch_cancel_) {
    each_block = [&] {
      ThrowIfCancelled();
      reported_total = blocks_total;
      ReportProgress(Progress::Phase::kVision, ++blocks_done, blocks_total, "blocks", tv);
      if (between_blocks) between_blocks();
    };
  }
  for (int pass = 0; pass < 2; ++pass) {
    const Media::Kind kind = pass == 0 ? Media::Kind::kImage : Media::Kind::kVideo;
    for (size_t i = cached_media; i < media_.size(); ++i) {
      const PreparedMedia& m = *media_[i];
      if (m.kind != kind) continue;
      bool hit = false;
      const int64_t blocks_before = blocks_done;
      const auto f = caches_.GetVisionFeatures(m, context_.model->vision(), &hit, each_block);
      blocks_total -= depth - (blocks_done - blocks_before);
      features.insert(features.end(), f->begin(), f->end());
      (pass == 0 ? image_grids : video_grids).push_back(m.grid);
      if (pass == 1) spg.push_back(m.second_per_grid_t);
      if (hit) ++result_.cached_media;
    }
  }
  if (request_.on_progress && blocks_done > 0 && blocks_done == blocks_total &&
      reported_total != blocks_total)
    ReportProgress(Progress::Phase::kVision, blocks_done, blocks_total, "blocks", tv);
  result_.timings.vision_ms = MsSince(tv);
  const model::PromptInput input{.input_ids = std::span(ids_).subspan(reuse_),
                                 .images = {{}, image_grids},
                                 .videos = {{}, video_grids},
                                 .second_per_grid_ts = spg,
                                 .features = features};
  // The state now claims only the reused prefix (Truncate); once pieces go in, a failure resets it
  // (ContinuePrefill, AbandonPrefill).
  pending_.emplace(state.sequence.BeginAppend(input, {}));
  prefill_start_ = Clock::now();
}

bool RequestRun::ContinuePrefill(int64_t max_rows) {
  QWENVL_CHECK(pending_.has_value());
  SequenceState& state = *state_;
  const auto t0 = Clock::now();
  bool finished = false;
  try {
    finished = state.sequence.ContinueAppend(*pending_, max_rows, {});
  } catch (...) {
    state.Reset();  // never leave a cache that disagrees with its recorded tokens
    throw;
  }
  result_.timings.prefill_ms += MsSince(t0);
  ReportProgress(Progress::Phase::kPrefill, pending_->done, pending_->size(), "tokens",
                 prefill_start_);
  if (!finished) return false;
  const model::PositionIds& pos = pending_->positions;
  int64_t running = state.max_pos.empty() ? -1 : state.max_pos.back();
  for (int64_t i = 0; i < pos.size(); ++i) {
    running = std::max({running, pos.t[i], pos.h[i], pos.w[i]});
    state.max_pos.push_back(running);
  }
  pending_.reset();
  result_.cached_prompt_tokens = reuse_;
  state.ids = ids_;
  state.media_keys = media_keys_;
  state.media_ranges = media_ranges_;

  sampler_.emplace(MakeSamplerConfig(request_.sampling, context_.generation_defaults), ids_);
  decoder_.emplace(context_.tokenizer, /*skip_special_tokens=*/true);
  stop_.emplace(request_.sampling.stop);
  const auto logits = state.sequence.logits();
  logits_.assign(logits.begin(), logits.end());
  prefilled_ = true;
  if (request_.sampling.max_new_tokens <= 0) Finish(FinishReason::kLength);
  return true;
}

void RequestRun::Prefill(SequenceState& state, int64_t piece_rows) {
  BeginPrefill(state);
  while (!ContinuePrefill(piece_rows)) ThrowIfCancelled();
}

void RequestRun::ReportProgress(Progress::Phase phase, int64_t done, int64_t total,
                                const char* unit, Clock::time_point since) const {
  if (!request_.on_progress) return;
  request_.on_progress(Progress{
      .phase = phase, .done = done, .total = total, .unit = unit, .elapsed_ms = MsSince(since)});
}

void RequestRun::AbandonPrefill() {
  if (prefilled_ || done_) return;
  if (pending_) {
    pending_.reset();
    state_->Reset();  // the cache holds part of the prompt: start the sequence afresh
  }
  result_.finish_reason = FinishReason::kCancelled;
  done_ = true;
}

void RequestRun::Emit(std::string_view text) {
  if (text.empty()) return;
  result_.text.append(text);
  if (first_token_) {
    result_.timings.first_token_ms = MsSince(start_);
    first_token_ = false;
  }
  if (on_text_ && !on_text_(text)) cancelled_ = true;
}

void RequestRun::Step() {
  if (!ChooseToken()) return;
  const auto t0 = Clock::now();
  state_->sequence.Step(fed_token_);
  TakeLogits(MsSince(t0));
}

std::optional<TokenId> RequestRun::ChooseToken() {
  if (done_) return std::nullopt;
  if (cancelled_ || CancelRequested()) return Finish(FinishReason::kCancelled), std::nullopt;
  const auto t0 = Clock::now();
  // Prefill and every step leave their logits here: a NaN/Inf means broken weights or numerics.
  for (size_t i = 0; i < logits_.size(); ++i) {
    if (!std::isfinite(logits_[i]))
      throw Error(ErrorCode::kInternal, "logits are not finite (value " +
                                            std::to_string(logits_[i]) + " at token id " +
                                            std::to_string(i) + ")");
  }
  // The output constraint sets the logits of the tokens it rules out to -inf here, before the
  // sampler: penalties, the distribution drawn from and the log-probabilities all see that row.
  if (matcher_) ApplyTokenMask(*matcher_->Mask(), logits_);
  const int top_n = request_.sampling.logprobs;
  ChoiceLogprobs choice;
  const TokenId token =
      top_n >= 0 ? sampler_->Sample(logits_, top_n, &choice) : sampler_->Sample(logits_);
  if (matcher_ && !matcher_->Accept(token))
    throw Error(ErrorCode::kInternal, "the sampler chose token " + std::to_string(token) +
                                          ", which the constraint refuses");
  const auto& eos = context_.generation_defaults.eos_token_ids;
  if (std::find(eos.begin(), eos.end(), token) != eos.end()) {
    result_.timings.decode_ms += MsSince(t0);
    return Finish(FinishReason::kStop), std::nullopt;
  }
  sampler_->Accept(token);
  result_.tokens.push_back(token);
  ++result_.completion_tokens;
  if (top_n >= 0) RecordLogprobs(token, choice);
  Emit(stop_->Push(decoder_->Push(token)));
  result_.timings.decode_ms += MsSince(t0);
  if (stop_->stopped()) return Finish(FinishReason::kStop), std::nullopt;
  if (cancelled_) return Finish(FinishReason::kCancelled), std::nullopt;
  const bool full = state_->sequence.length() + 1 >= state_->sequence.capacity();
  if (result_.completion_tokens >= request_.sampling.max_new_tokens || full)
    return Finish(FinishReason::kLength), std::nullopt;
  fed_token_ = token;
  fed_position_ = state_->sequence.length() + state_->sequence.rope_delta();  // §5.4
  return token;
}

void RequestRun::RecordLogprobs(TokenId token, const ChoiceLogprobs& choice) {
  const auto bytes = [&](TokenId id) {
    std::string out;
    context_.tokenizer.AppendTokenBytes(id, /*skip_special_tokens=*/false, &out);
    return out;
  };
  TokenLogprob& entry = result_.logprobs.emplace_back();
  entry.token = token;
  entry.text = bytes(token);
  entry.logprob = choice.logprob;
  entry.top.reserve(choice.top.size());
  for (const auto& [id, logprob] : choice.top)
    entry.top.push_back({.token = id, .text = bytes(id), .logprob = logprob, .top = {}});
  if (request_.on_token) request_.on_token(entry);
}

void RequestRun::TakeLogits(double step_ms) {
  QWENVL_CHECK(fed_token_ >= 0);
  const auto logits = state_->sequence.logits();
  logits_.assign(logits.begin(), logits.end());
  state_->ids.push_back(fed_token_);
  state_->max_pos.push_back(std::max(state_->max_pos.back(), fed_position_));
  result_.timings.decode_ms += step_ms;
  fed_token_ = -1;
}

void RequestRun::Finish(FinishReason reason) {
  if (done_) return;
  if (!stop_->stopped()) Emit(stop_->Push(decoder_->Flush()));
  if (!stop_->stopped()) Emit(stop_->Flush());
  result_.finish_reason = reason;
  done_ = true;
}

Result RequestRun::TakeResult() { return std::move(result_); }

}  // namespace qwenvl::runtime
