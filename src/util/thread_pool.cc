#include "util/thread_pool.h"

#include <algorithm>

namespace qwenvl {

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = std::max(1u, std::thread::hardware_concurrency());
  num_threads_ = num_threads;
  for (int w = 1; w < num_threads_; ++w) threads_.emplace_back([this, w] { WorkerLoop(w); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
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
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &range_fn;
    job_n_ = n;
    pending_ = num_threads_ - 1;
    ++generation_;
  }
  start_cv_.notify_all();
  int64_t begin, end;
  ShareOf(n, num_threads_, 0, &begin, &end);
  if (begin < end) range_fn(begin, end, 0);
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [this] { return pending_ == 0; });
  job_ = nullptr;
}

void ThreadPool::WorkerLoop(int worker) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int64_t, int64_t, int)>* job;
    int64_t n;
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
      n = job_n_;
    }
    int64_t begin, end;
    ShareOf(n, num_threads_, worker, &begin, &end);
    if (begin < end) (*job)(begin, end, worker);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }
}

}  // namespace qwenvl
