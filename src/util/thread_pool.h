// A fixed pool of worker threads, owned by the engine and passed by reference.
// Run(n, fn) calls fn(i, worker) for i in [0, n) split statically into contiguous ranges, one per
// thread (the caller's thread takes part), and returns when all are done. No allocation per call.
// Idle workers poll for the next job for a short while before they sleep (thread_pool.cc).
// One caller at a time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace qwenvl {

class ThreadPool {
 public:
  // num_threads <= 0 means one per hardware core.
  explicit ThreadPool(int num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return num_threads_; }

  // Calls range_fn(begin, end, worker) once per worker on a contiguous share of [0, n).
  void RunRanges(int64_t n, const std::function<void(int64_t, int64_t, int)>& range_fn);

  // Calls fn(i, worker) for every i in [0, n).
  template <class Fn>
  void Run(int64_t n, Fn&& fn) {
    RunRanges(n, [&fn](int64_t begin, int64_t end, int worker) {
      for (int64_t i = begin; i < end; ++i) fn(i, worker);
    });
  }

 private:
  void WorkerLoop(int worker);

  int num_threads_;
  std::vector<std::thread> threads_;
  std::mutex mu_;  // held only around the condition variables' waits and wake-ups
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;
  int64_t job_n_ = 0;
  std::atomic<uint64_t> generation_{0};  // one more per job
  std::atomic<int> pending_{0};          // workers still on the current job
  std::atomic<bool> stop_{false};
};

}  // namespace qwenvl
