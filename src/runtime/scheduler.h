// The scheduler behind Engine::Submit: a bounded queue, up to max_parallel requests in flight on
// their own sequences, one batched decode step for all of them at a time (continuous batching) so
// that a long answer does not hold up the others, and sequences kept after a request ends so that a
// follow-up turn reuses its KV cache. A request starts from the longest prefix of its prompt that
// any sequence holds: its own sequence's, or another's, whose cached rows are copied into its own
// (n requests with the same prompt prefill it once); when a prompt being prefilled will give it a
// longer one, it waits for that prefill to end.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "qwenvl/engine.h"
#include "runtime/media_caches.h"
#include "runtime/model_context.h"
#include "runtime/sequence_state.h"

namespace qwenvl::runtime {

class RequestRun;

// EngineOptions' scheduling fields (their meaning is given there).
struct SchedulerOptions {
  int max_parallel;
  int max_queued;
  int64_t prefill_chunk_tokens;
};

struct SchedulerStats {
  int64_t queued = 0;
  int64_t active = 0;
  int64_t kv_rows_used = 0, kv_rows_capacity = 0;
  int64_t prefix_hit_tokens = 0, prefix_media = 0, prompt_tokens = 0;  // since the start
};

class Scheduler {
 public:
  // Runs requests on `context` (its compute lock held for every forward pass) with `caches`; both
  // must outlive the scheduler.
  Scheduler(ModelContext& context, MediaCaches& caches, SchedulerOptions options);
  ~Scheduler();

  // Throws Error(kOutOfRange) when max_queued requests already wait.
  std::shared_ptr<RequestHandle> Submit(Request request, StreamCallback on_text,
                                        DoneCallback on_done);
  SchedulerStats stats() const;

 private:
  struct Job;
  struct Slot {
    std::unique_ptr<SequenceState> state;
    std::shared_ptr<Job> job;  // null when free
    uint64_t last_used = 0;
    // The job is admitted but its prefill has not begun: it waits for another slot's prefill, whose
    // rows it will copy (Start).
    bool waiting = false;
  };
  // Where a request's prompt prefix can come from, other sequences than one: the longest prefix a
  // sequence holds now (and which), and the longest a prefill in progress will leave.
  struct PrefixSource {
    Slot* slot = nullptr;
    int64_t now = 0;
    int64_t coming = 0;
  };

  void Loop();
  bool Admit(std::shared_ptr<Job> job);  // false when no slot is free
  // Begins the prefill of the slot's admitted request on the best prefix there is (its own
  // sequence's, or another's copied into it), or leaves it waiting while a prefill in progress
  // will give a longer one. A cancelled request ends here.
  void Start(Slot& slot);
  void StartWaiting();  // Start for every waiting slot, the earliest admitted first
  void PrefillPiece();  // the next piece of one admitted request's prompt
  void StepActive();
  void CountPrefilled(const RequestRun& run);  // a prompt went in: the prefix counters
  void CountKvRows();                          // kv_rows_ from the sequences
  void Complete(Slot& slot, const Result* result, const Error* error);
  void Fail(Slot& slot, const std::exception& e);  // Complete with e as an Error
  Slot* PickSlot(const RequestRun& run);
  PrefixSource FindPrefix(const RequestRun& run, const Slot* except);

  ModelContext& context_;
  MediaCaches& caches_;
  const SchedulerOptions options_;
  std::vector<Slot> slots_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::atomic<int64_t> active_{0};
  // Written by the scheduler's thread, read by stats() from any thread.
  std::atomic<int64_t> kv_rows_{0};
  std::atomic<int64_t> prefix_hit_tokens_{0}, prefix_media_{0}, prompt_tokens_{0};
  uint64_t clock_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace qwenvl::runtime
