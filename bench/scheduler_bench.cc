// Throughput of Engine::Submit with several concurrent greedy requests: the scheduler decodes the
// active requests together (continuous batching), so tokens/s should grow with their number.
// Model folder: $QWENVL_BENCH_MODEL, else the build folder's demo-model (run from the build dir).
#include <benchmark/benchmark.h>

#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include "qwenvl/engine.h"

namespace {

std::string ModelDir() {
  const char* env = std::getenv("QWENVL_BENCH_MODEL");
  return env != nullptr ? env : "demo-model";
}

qwenvl::Engine& SharedEngine(int max_parallel) {
  static std::unique_ptr<qwenvl::Engine> engine;
  static int parallel = 0;
  if (!engine || parallel != max_parallel) {
    engine.reset();
    qwenvl::EngineOptions o;
    o.model_dir = ModelDir();
    o.context_length = 1024;
    o.max_parallel = max_parallel;
    engine = qwenvl::Engine::Load(o);
    parallel = max_parallel;
  }
  return *engine;
}

// Submits `requests` greedy requests of `tokens` new tokens (no stop: eos may end one early) and
// waits for all of them. Returns the completion tokens produced.
int64_t RunBatch(qwenvl::Engine& engine, int requests, int64_t tokens) {
  std::mutex mu;
  std::condition_variable cv;
  int pending = requests;
  int64_t produced = 0;
  for (int i = 0; i < requests; ++i) {
    qwenvl::Request r;
    r.messages.push_back(qwenvl::Message::Text(
        "user", "Request " + std::to_string(i) + ": describe a small red house by a lake."));
    r.sampling.temperature = 0.0f;
    r.sampling.max_new_tokens = tokens;
    engine.Submit(std::move(r), nullptr, [&](const qwenvl::Result* result, const qwenvl::Error*) {
      std::lock_guard<std::mutex> lock(mu);
      if (result != nullptr) produced += result->completion_tokens;
      if (--pending == 0) cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return pending == 0; });
  return produced;
}

// range(0): concurrent requests (= max_parallel); 64 new tokens each.
void BM_ConcurrentGreedy(benchmark::State& state) {
  const int requests = static_cast<int>(state.range(0));
  qwenvl::Engine& engine = SharedEngine(requests);
  int64_t total = 0;
  for (auto _ : state) total += RunBatch(engine, requests, 64);
  state.counters["tokens_per_s"] =
      benchmark::Counter(static_cast<double>(total), benchmark::Counter::kIsRate);
  state.counters["tokens"] = static_cast<double>(total) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_ConcurrentGreedy)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
