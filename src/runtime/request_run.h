// One request carried out on one sequence: prompt assembly, media, prefill (reusing the cached
// prefix of earlier turns), then decode steps until a stop condition. Split in steps so that the
// scheduler can interleave several requests. The run owns its request, so it may outlive the
// caller's copy (a submitted request is queued, then run on the scheduler's thread).
#pragma once

#include <chrono>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "grammar/matcher.h"
#include "qwenvl/engine.h"
#include "qwenvl/token_id.h"
#include "runtime/media_caches.h"
#include "runtime/model_context.h"
#include "runtime/sampler.h"
#include "runtime/sequence_state.h"
#include "runtime/stop_matcher.h"
#include "text/tokenizer.h"

namespace qwenvl::runtime {

// Thrown out of a synchronous run's preparation or prefill when Request::cancel turned true
// (RequestRun::WatchCancel); the caller ends the run with AbandonPrefill.
struct RunCancelled {};

class RequestRun {
 public:
  // context and caches must outlive the run.
  RequestRun(ModelContext& context, MediaCaches& caches, Request request, StreamCallback on_text);

  // Template, tokens and media: everything that needs no sequence. Throws Error on bad input
  // (context overflow included). The run's clock (first_token_ms) starts here, not at
  // construction, so that a submitted request's wait in the queue is not counted.
  void Prepare();
  bool prepared() const { return prepared_; }
  // Tokens of a cache that this request can keep (an exact prefix of its prompt, media included):
  // of its own sequence, or of another one whose rows would be copied (SequenceState::CopyPrefix).
  int64_t ReusablePrefix(const CacheContents& cache) const;
  int64_t ReusablePrefix(const SequenceState& state) const {
    return ReusablePrefix(state.contents());
  }
  // What the sequence will hold once this request's prompt went in (after Prepare).
  CacheContents prompt_contents() const { return {ids_, media_keys_, media_ranges_}; }
  // Prefills the prompt on `state`, keeping its reusable prefix. `state` must outlive the steps.
  // piece_rows: prompt tokens fed per ContinuePrefill (each reported to Request::on_progress).
  void Prefill(SequenceState& state, int64_t piece_rows = std::numeric_limits<int64_t>::max());
  // Prefill in pieces: BeginPrefill keeps the reusable prefix and gets the vision features (the
  // encoder runs here, or the engine's cache answers); each ContinuePrefill feeds at most max_rows
  // more prompt tokens and returns true once the whole prompt went through. On an Error the state
  // is reset. AbandonPrefill gives up midway or before BeginPrefill (cancellation): a state holding
  // part of the prompt is reset, the run ends as cancelled.
  // between_blocks: as VisionEncoder::Encode's.
  void BeginPrefill(SequenceState& state, const std::function<void()>& between_blocks = nullptr);
  bool ContinuePrefill(int64_t max_rows);
  void AbandonPrefill();
  bool prefilled() const { return prefilled_; }
  // After BeginPrefill: the prompt tokens and media kept from the sequence's cache.
  int64_t reused_tokens() const { return reuse_; }
  int64_t reused_media() const { return reused_media_; }
  int64_t prompt_tokens() const { return static_cast<int64_t>(ids_.size()); }
  bool cancelled() const { return cancelled_; }
  bool done() const { return done_; }
  // Samples the next token from the current logits, streams its text, and feeds it to the model
  // unless the run ends with it: ChooseToken, Sequence::Step, TakeLogits.
  void Step();
  // The first half of Step: samples the next token (with its log-probabilities when the request
  // asks, given to Request::on_token) and streams its text. Returns the token the model must be
  // fed next, or nullopt when the run ended (done()). Throws Error on non-finite logits.
  std::optional<TokenId> ChooseToken();
  // The sequence the chosen token goes to (for a batched Sequence::StepBatch).
  model::Sequence& sequence() { return state_->sequence; }
  // The second half of Step, once the chosen token went through the model (alone or in a batch):
  // records it and keeps the sequence's new logits. step_ms: the forward pass's time.
  void TakeLogits(double step_ms);
  void Cancel() { cancelled_ = true; }
  // Makes the run look at Request::cancel between encoder blocks, video slices and prompt pieces
  // (throwing RunCancelled) and before each token (ending as cancelled): for Engine::Generate and
  // Session::Generate, which have no handle to cancel with. The scheduler does not call it.
  void WatchCancel() { watch_cancel_ = request_.cancel != nullptr; }
  Result TakeResult();

 private:
  void Finish(FinishReason reason);
  bool CancelRequested() const {
    return watch_cancel_ && request_.cancel->load(std::memory_order_relaxed);
  }
  void ThrowIfCancelled() const {
    if (CancelRequested()) throw RunCancelled{};
  }
  // Request::on_progress, when set, with the time since `since`.
  void ReportProgress(Progress::Phase phase, int64_t done, int64_t total, const char* unit,
                      std::chrono::steady_clock::time_point since) const;
  void Emit(std::string_view text);
  // Result::logprobs' entry of a chosen token, also given to Request::on_token.
  void RecordLogprobs(TokenId token, const ChoiceLogprobs& choice);
  ModelContext& context_;
  MediaCaches& caches_;
  const Request request_;
  StreamCallback on_text_;
  SequenceState* state_ = nullptr;
  std::vector<TokenId> ids_;  // the prompt, pads expanded
  std::vector<std::shared_ptr<const PreparedMedia>> media_;
  std::vector<std::string> media_keys_;
  std::vector<std::pair<int64_t, int64_t>> media_ranges_;  // pad runs in ids_
  std::chrono::steady_clock::time_point start_;
  std::optional<Sampler> sampler_;
  std::optional<text::StreamDecoder> decoder_;
  std::optional<StopMatcher> stop_;
  std::optional<grammar::GrammarMatcher> matcher_;  // with a Request::constraint
  std::vector<float> logits_;
  Result result_;
  bool watch_cancel_ = false;
  std::optional<model::PendingAppend> pending_;          // between BeginPrefill and the last piece
  int64_t reuse_ = 0;                                    // cached prompt tokens kept
  int64_t reused_media_ = 0;                             // media among them
  std::chrono::steady_clock::time_point prefill_start_;  // after the vision encoding
  bool prepared_ = false;
  bool prefilled_ = false;
  bool done_ = false;
  bool cancelled_ = false;
  bool first_token_ = true;
  TokenId fed_token_ = -1;     // chosen, waiting for TakeLogits
  int64_t fed_position_ = -1;  // its M-RoPE position (§5.4)
};

}  // namespace qwenvl::runtime
