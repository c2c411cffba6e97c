// Vision encoder timings (model-spec §3): the whole Encode of the `small` test checkpoint (vision
// hidden 320, 4 heads of 80, depth 4) on a 448×448 image grid (1, 32, 32) and a 952×1288 one
// (1, 68, 92), and the segmented attention of one block at the 3B shapes (16 heads of 80) for both
// schedules. The 3B-size Encode needs a 7 GB checkpoint; it is timed elsewhere.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <random>
#include <vector>

#include "compute/cpu_backend.h"
#include "io/model_folder.h"
#include "io/test_checkpoint.h"
#include "model/vision_encoder.h"
#include "model/window_index.h"
#include "util/thread_pool.h"

namespace qwenvl::model {
namespace {

namespace fs = std::filesystem;

struct SmallModel {
  SmallModel() {
    dir = fs::temp_directory_path() / ("qwenvl_vision_bench_" + std::to_string(::getpid()));
    io::WriteTestModel(io::GetTestModelPreset("small"), dir.string(),
                       QWENVL_SOURCE_DIR "/tests/data/qwen2.5-vl-3b-instruct");
    folder = std::make_unique<io::ModelFolder>(io::ModelFolder::Open(dir.string()));
  }
  ~SmallModel() {
    folder.reset();
    fs::remove_all(dir);
  }
  fs::path dir;
  std::unique_ptr<io::ModelFolder> folder;
};

SmallModel& Small() {
  static SmallModel model;
  return model;
}

std::vector<float> RandomValues(size_t n, float scale) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Multiply-adds of the matmuls and attention of one Encode, ×2 flops.
double EncodeFlops(const io::VisionConfig& c, const GridThw& g) {
  const double n = static_cast<double>(g.num_patches()), h = c.hidden_size;
  const double per_block = h * 3 * h + h * h + 3 * h * c.intermediate_size;
  double attn = 0;
  for (int64_t i = 0; i < c.depth; ++i) {
    const double seg = c.IsFullAttentionBlock(i) ? static_cast<double>(g.h * g.w) : 64.0;
    attn += 2 * n * seg * h;
  }
  const double md = c.merged_dim();
  const double merger = n / 4 * (md * md + md * c.out_hidden_size);
  return 2 * (n * c.patch_dim() * h + c.depth * n * per_block + attn + merger);
}

void BM_EncodeSmall(benchmark::State& state) {
  const GridThw grid{1, state.range(0), state.range(1)};
  ThreadPool pool(static_cast<int>(state.range(2)));
  compute::CpuBackend backend(pool);
  const VisionEncoder enc(backend, *Small().folder);
  const std::vector<float> pixels =
      RandomValues(static_cast<size_t>(grid.num_patches() * enc.config().patch_dim()), 2.0f);
  for (auto _ : state) {
    std::vector<float> out = enc.Encode(pixels, {&grid, 1});
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["patches"] = static_cast<double>(grid.num_patches());
  state.counters["GFLOP/s"] = benchmark::Counter(EncodeFlops(enc.config(), grid) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_EncodeSmall)
    ->ArgNames({"h", "w", "threads"})
    ->Args({32, 32, 1})
    ->Args({32, 32, 2})
    ->Args({68, 92, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// One window-attention block at the 3B shapes: 16 heads of 80, windows of ≤ 64 patches.
void BM_WindowAttention3b(benchmark::State& state) {
  const GridThw grid{1, state.range(0), state.range(1)};
  constexpr int64_t kHeads = 16, kHeadDim = 80, kHidden = kHeads * kHeadDim;
  const WindowLayout layout = ComputeWindowLayout({&grid, 1}, 2, 4);
  const std::vector<int64_t> cu = DropEmptySegments(layout.cu_window_seqlens);
  const std::vector<float> qkv =
      RandomValues(static_cast<size_t>(grid.num_patches() * 3 * kHidden), 1.0f);
  ThreadPool pool(2);
  compute::CpuBackend backend(pool);
  backend.set_segment_schedule(static_cast<compute::SegmentSchedule>(state.range(2)));
  const compute::Buffer t = backend.Allocate(grid.num_patches(), 3 * kHidden);
  const compute::Buffer out = backend.Allocate(grid.num_patches(), kHidden);
  backend.Upload(qkv, t);
  std::vector<compute::AttentionSegment> segments;
  for (size_t i = 0; i + 1 < cu.size(); ++i) {
    const int64_t b = cu[i], r = cu[i + 1] - cu[i];
    segments.push_back({.q = t.Cols(0, kHidden).Rows(b, r),
                        .k = t.Cols(kHidden, kHidden).Rows(b, r),
                        .v = t.Cols(2 * kHidden, kHidden).Rows(b, r),
                        .out = out.Rows(b, r)});
  }
  for (auto _ : state) {
    backend.Attention({.segments = segments,
                       .num_heads = kHeads,
                       .num_kv_heads = kHeads,
                       .head_dim = kHeadDim,
                       .scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim)),
                       .causal = false});
  }
}
BENCHMARK(BM_WindowAttention3b)
    ->ArgNames({"h", "w", "schedule"})
    ->Args({68, 92, static_cast<int>(compute::SegmentSchedule::kSegments)})
    ->Args({68, 92, static_cast<int>(compute::SegmentSchedule::kQueries)})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace qwenvl::model

BENCHMARK_MAIN();
