#include "util/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace qwenvl {

namespace {

// How long a thread polls before it sleeps on a condition variable. A decode step hands the pool
// hundreds of short jobs with microseconds of serial work between them; a worker asleep between
// two of them is woken through the kernel (in a VM, an interrupt to another virtual CPU). Polling
// took a 3B q4 decode on 2 vCPUs (AMD Zen 5 VM) from 16.0 / 15.5 to 17.4 / 18.6 tok/s. Longer
// pauses (between requests) sleep.
constexpr auto kSpin = std::chrono::microseconds(200);

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// Polls `done` for up to kSpin, yielding the core now and then (the machine may have more busy
// threads than cores); true once it holds.
template <class Done>
bool SpinUntil(Done&& done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (int i = 1;; ++i) {
    if (done()) return true;
    CpuRelax();
    if (i % 64 == 0) {
      if (std::chrono::steady_clock::now() > deadline) return done();
      std::this_thread::yield();
    }
  }
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = std::max(1u, std::thread::hardware_concurrency());
  num_threads_ = num_threads;
  for (int w = 1; w < num_threads_; ++w) threads_.emplace_back([this, w] { WorkerLoop(w); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  { std::lock_guard<std::mutex> lock(mu_); }  // a worker between its check and its wait sees it
  start_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

static void ShareOf(int64_t n, int workers, int w, int64_t* begin, int64_t* end) {
  *begin = n * w / workers;
  *end = n * (w + 1) / workers;
}

void ThreadPool::RunRanges(int64_t n, const std::function<void(int64_t, int64_t, int)>& range_fn) {
  if (n <= 0) return;
  const int workers = static_cast<int>(std::min<int64_t>(num_threads_, n));
  if (workers == 1) {
    range_fn(0, n, 0);
    return;
  }
  // The job is published by the release increment of generation_: a worker that sees the new
  // generation (acquire) sees job_ and job_n_. The previous job is over (pending_ reached 0), so
  // no worker is reading them.
  job_ = &range_fn;
  job_n_ = n;
  pending_.store(num_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  { std::lock_guard<std::mutex> lock(mu_); }  // a worker between its check and its wait sees it
  start_cv_.notify_all();
  int64_t begin, end;
  ShareOf(n, num_threads_, 0, &begin, &end);
  if (begin < end) range_fn(begin, end, 0);
  const auto finished = [this] { return pending_.load(std::memory_order_acquire) == 0; };
  if (!SpinUntil(finished)) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, finished);
  }
  job_ = nullptr;
}

void ThreadPool::WorkerLoop(int worker) {
  uint64_t seen = 0;
  const auto started = [&] {
    return stop_.load(std::memory_order_acquire) ||
           generation_.load(std::memory_order_acquire) != seen;
  };
  for (;;) {
    if (!SpinUntil(started)) {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, started);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = generation_.load(std::memory_order_acquire);
    const std::function<void(int64_t, int64_t, int)>* job = job_;
    const int64_t n = job_n_;
    int64_t begin, end;
    ShareOf(n, num_threads_, worker, &begin, &end);
    if (begin < end) (*job)(begin, end, worker);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      { std::lock_guard<std::mutex> lock(mu_); }  // the caller between its check and its wait
      done_cv_.notify_one();
    }
  }
}

}  // namespace qwenvl
