#include "runtime/scheduler.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "runtime/request_run.h"
#include "util/error.h"

namespace qwenvl::runtime {

struct Scheduler::Job : RequestHandle {
  std::unique_ptr<RequestRun> run;  // owns the request
  StreamCallback on_text;
  DoneCallback on_done;
  std::atomic<bool> cancelled{false};
  std::atomic<bool> waiting{true};  // in queue_, not yet admitted
  void Cancel() override { cancelled = true; }
  bool queued() const override { return waiting; }
  // Reports the end once, then drops the callbacks and the run (with its request): a caller's
  // callbacks usually hold the caller's state, which holds this handle; kept, that cycle would leak
  // every finished request.
  void End(const Result* result, const Error* error) {
    DoneCallback done = std::move(on_done);
    on_done = nullptr;
    if (done) done(result, error);
    done = nullptr;
    on_text = nullptr;
    run.reset();
  }
};

Scheduler::Scheduler(ModelContext& context, MediaCaches& caches, SchedulerOptions options)
    : context_(context), caches_(caches), options_(options) {
  slots_.resize(std::max(1, options_.max_parallel));
  thread_ = std::thread([this] { Loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::shared_ptr<RequestHandle> Scheduler::Submit(Request request, StreamCallback on_text,
                                                 DoneCallback on_done) {
  auto job = std::make_shared<Job>();
  job->on_text = std::move(on_text);
  job->on_done = std::move(on_done);
  // The run's callback points at the job that owns the run, so it never outlives it (a shared
  // pointer there would be a cycle).
  job->run = std::make_unique<RequestRun>(context_, caches_, std::move(request),
                                          [j = job.get()](std::string_view t) {
                                            return !j->cancelled && (!j->on_text || j->on_text(t));
                                          });
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (static_cast<int64_t>(queue_.size()) >= options_.max_queued)
      throw Error(ErrorCode::kOutOfRange, "the request queue is full (" +
                                              std::to_string(queue_.size()) +
                                              " requests waiting); try again later");
    queue_.push_back(job);
  }
  cv_.notify_one();
  return job;
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {.queued = static_cast<int64_t>(queue_.size()),
          .active = active_.load(),
          .kv_rows_used = kv_rows_.load(),
          .kv_rows_capacity = static_cast<int64_t>(slots_.size()) * context_.context_length,
          .prefix_hit_tokens = prefix_hit_tokens_.load(),
          .prefix_media = prefix_media_.load(),
          .prompt_tokens = prompt_tokens_.load()};
}

void Scheduler::CountPrefilled(const RequestRun& run) {
  prefix_hit_tokens_ += run.reused_tokens();
  prefix_media_ += run.reused_media();
  prompt_tokens_ += run.prompt_tokens();
}

void Scheduler::CountKvRows() {
  int64_t rows = 0;
  for (const Slot& s : slots_)
    if (s.state) rows += static_cast<int64_t>(s.state->ids.size());
  kv_rows_ = rows;
}

Scheduler::PrefixSource Scheduler::FindPrefix(const RequestRun& run, const Slot* except) {
  PrefixSource found;
  for (Slot& s : slots_) {
    if (&s == except || !s.state) continue;
    // A sequence's recorded tokens are always in its cache: during a prefill they are the prefix
    // it kept (the new rows are recorded when the prompt is complete), during decoding the prompt
    // and the tokens fed so far.
    const int64_t now = run.ReusablePrefix(*s.state);
    if (now > found.now) found = {&s, now, found.coming};
    const bool prefilling =
        s.job && !s.waiting && !s.job->cancelled && !s.job->run->prefilled() && !s.job->run->done();
    if (prefilling)
      found.coming = std::max(found.coming, run.ReusablePrefix(s.job->run->prompt_contents()));
  }
  return found;
}

Scheduler::Slot* Scheduler::PickSlot(const RequestRun& run) {
  // Prefer the free sequence holding the longest prefix of this prompt, then the least recently
  // used one (an empty sequence first).
  Slot* best = nullptr;
  int64_t best_reuse = -1;
  const auto older = [](const Slot& a, const Slot* b) {
    return !b || (!a.state && b->state) || (a.state && b->state && a.last_used < b->last_used);
  };
  for (Slot& s : slots_) {
    if (s.job) continue;
    const int64_t reuse = s.state ? run.ReusablePrefix(*s.state) : 0;
    if (reuse > best_reuse || (reuse == best_reuse && older(s, best))) {
      best = &s;
      best_reuse = reuse;
    }
  }
  if (best == nullptr) return nullptr;
  // A busy sequence holds (or its prefill will hold) a longer prefix, which will be copied: what a
  // free one holds is then of no use to this request, so take the empty or least recently used one
  // and keep the others' contents for later requests.
  const PrefixSource elsewhere = FindPrefix(run, best);
  if (std::max(elsewhere.now, elsewhere.coming) > best_reuse) {
    for (Slot& s : slots_)
      if (!s.job && older(s, best)) best = &s;
  }
  return best;
}

bool Scheduler::Admit(std::shared_ptr<Job> job) {
  if (job->cancelled) {  // cancelled while waiting
    Result r;
    r.finish_reason = FinishReason::kCancelled;
    job->End(&r, nullptr);
    return true;
  }
  RequestRun& run = *job->run;
  Slot* slot = nullptr;
  try {
    if (!run.prepared()) run.Prepare();  // prepared already when no slot was free last time
    slot = PickSlot(run);
  } catch (const Error& e) {
    job->End(nullptr, &e);
    return true;
  } catch (const std::exception& e) {
    const Error err(ErrorCode::kInternal, e.what());
    job->End(nullptr, &err);
    return true;
  }
  if (slot == nullptr) return false;
  if (!slot->state)
    slot->state = std::make_unique<SequenceState>(*context_.model, context_.context_length);
  slot->job = job;
  slot->waiting = true;
  job->waiting = false;
  slot->last_used = ++clock_;
  ++active_;
  Start(*slot);
  return true;
}

void Scheduler::Start(Slot& slot) {
  RequestRun& run = *slot.job->run;
  if (slot.job->cancelled) {
    run.AbandonPrefill();
    const Result r = run.TakeResult();
    return Complete(slot, &r, nullptr);
  }
  const PrefixSource elsewhere = FindPrefix(run, &slot);
  const int64_t own = run.ReusablePrefix(*slot.state);
  const int64_t now = std::max(own, elsewhere.now);
  // Waiting costs this request nothing: prompts are prefilled one after another, the earliest
  // admitted first, so its own pieces would only go in once that prefill ended.
  if (elsewhere.coming > now) return;
  slot.waiting = false;
  try {
    std::lock_guard<std::recursive_mutex> lock(context_.compute_mu);
    if (elsewhere.now > own) slot.state->CopyPrefix(*elsewhere.slot->state, elsewhere.now);
    // The others decode between the vision encoder's blocks; the prompt goes in pieces later
    // (PrefillPiece).
    run.BeginPrefill(*slot.state, [this] { StepActive(); });
  } catch (const std::exception& e) {
    Fail(slot, e);
  }
}

void Scheduler::StartWaiting() {
  std::vector<Slot*> waiting;
  for (Slot& s : slots_)
    if (s.job && s.waiting) waiting.push_back(&s);
  std::sort(waiting.begin(), waiting.end(),
            [](const Slot* a, const Slot* b) { return a->last_used < b->last_used; });
  for (Slot* s : waiting)
    if (s->job && s->waiting) Start(*s);
}

void Scheduler::Complete(Slot& slot, const Result* result, const Error* error) {
  std::shared_ptr<Job> job = std::move(slot.job);
  slot.job.reset();
  slot.waiting = false;
  --active_;
  if (error != nullptr && slot.state) slot.state->Reset();
  job->End(result, error);
}

void Scheduler::Fail(Slot& slot, const std::exception& e) {
  if (const auto* error = dynamic_cast<const Error*>(&e)) return Complete(slot, nullptr, error);
  const Error err(ErrorCode::kInternal, e.what());
  Complete(slot, nullptr, &err);
}

// Chunked prefill: one piece of the longest-waiting admitted prompt per round (slots are scanned
// from the least recently admitted), so that decode steps of the others run between the pieces.
void Scheduler::PrefillPiece() {
  Slot* next = nullptr;
  for (Slot& s : slots_) {
    if (!s.job || s.waiting || s.job->run->prefilled() || s.job->run->done()) continue;
    if (next == nullptr || s.last_used < next->last_used) next = &s;
  }
  if (next == nullptr) return;
  RequestRun& run = *next->job->run;
  if (next->job->cancelled || run.cancelled()) {
    run.AbandonPrefill();
    const Result r = run.TakeResult();
    return Complete(*next, &r, nullptr);
  }
  try {
    std::lock_guard<std::recursive_mutex> lock(context_.compute_mu);
    if (run.ContinuePrefill(std::max<int64_t>(1, options_.prefill_chunk_tokens))) {
      CountPrefilled(run);
    }
  } catch (const std::exception& e) {
    Fail(*next, e);
  }
}

// Continuous batching: every active request chooses its next token from its logits, then one
// batched forward pass feeds all the tokens (the weights are read once per step, not once per
// request), then each request takes its new logits.
void Scheduler::StepActive() {
  std::vector<Slot*> fed;
  std::vector<model::Sequence*> sequences;
  std::vector<TokenId> tokens;
  for (Slot& s : slots_) {
    if (!s.job) continue;
    RequestRun& run = *s.job->run;
    if (!run.prefilled() && !run.done()) continue;  // its prompt is still going in (PrefillPiece)
    try {
      if (s.job->cancelled) run.Cancel();
      const std::optional<TokenId> token = run.ChooseToken();
      if (token) {
        fed.push_back(&s);
        sequences.push_back(&run.sequence());
        tokens.push_back(*token);
      } else if (run.done()) {
        const Result r = run.TakeResult();
        Complete(s, &r, nullptr);
      }
    } catch (const std::exception& e) {
      Fail(s, e);
    }
  }
  if (fed.empty()) return;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    std::lock_guard<std::recursive_mutex> lock(context_.compute_mu);
    model::Sequence::StepBatch(sequences, tokens);
  } catch (const std::exception& e) {
    for (Slot* s : fed) Fail(*s, e);  // checked before any work: no cache was changed
    return;
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  for (Slot* s : fed) s->job->run->TakeLogits(ms);
}

void Scheduler::Loop() {
  for (;;) {
    std::shared_ptr<Job> next;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty() || active_ > 0; });
      if (stop_) break;
      const bool free_slot = active_ < static_cast<int64_t>(slots_.size());
      if (!queue_.empty() && free_slot) {
        next = queue_.front();
        queue_.pop_front();
      }
    }
    StartWaiting();
    // One new request joins per round, so prefills interleave with the others' decode steps.
    if (next && !Admit(next)) {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_front(next);
    }
    PrefillPiece();
    StepActive();
    CountKvRows();
  }
  // Shutting down: everything still pending ends as cancelled.
  const Error stopped(ErrorCode::kInternal, "the engine is shutting down");
  for (Slot& s : slots_)
    if (s.job) Complete(s, nullptr, &stopped);
  for (auto& job : queue_) job->End(nullptr, &stopped);
}

}  // namespace qwenvl::runtime
