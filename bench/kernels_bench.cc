// Kernel benchmarks on the real Qwen2.5-VL-3B shapes: MatMul per weight type and target, the
// other kernels, and this machine's baselines: a streaming read (bandwidth) and the float32 FMA
// and bf16 dot-product peaks (arithmetic).
//   kernels_bench --benchmark_filter=MatMul/decoder.gate
// Counters: GFLOP/s (2·m·n·k per call) and GB/s (weight bytes read per call).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge source, which its
// -Wuninitialized then reports at every inlined use: a known false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "kernels/dispatch.h"
#include "kernels/ops.h"
#include "util/bf16.h"
#include "util/pages.h"
#include "util/thread_pool.h"

namespace qwenvl::kernels {
namespace {

// One thread per core, or QWENVL_BENCH_THREADS (1 gives CPU-time-stable figures on a busy machine).
ThreadPool& Pool() {
  static ThreadPool pool(
      std::getenv("QWENVL_BENCH_THREADS") ? std::atoi(std::getenv("QWENVL_BENCH_THREADS")) : 0);
  return pool;
}

// Cheap deterministic fill (xorshift) so that large matrices are set up quickly.
void Fill(float* v, int64_t n, uint32_t seed) {
  uint32_t s = seed * 2654435761u + 1;
  for (int64_t i = 0; i < n; ++i) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    v[i] = static_cast<float>(s & 0xffff) / 32768.0f - 1.0f;
  }
}

// Weights in the memory the engine streams them from: whole pages with huge pages asked for (the
// resident copy of stored weights; QuantizedMatrix for q8/q4).
struct Matrix {
  std::shared_ptr<void> bytes;
  QuantizedMatrix quantized;
  WeightView view;
};

Matrix MakeWeights(int64_t rows, int64_t cols, WeightFormat type) {
  if (IsQuantized(type)) {
    Matrix stored = MakeWeights(rows, cols, WeightFormat::kBF16);
    Matrix mat;
    mat.quantized = Quantize(stored.view, type, Pool());
    mat.view = mat.quantized.view();
    return mat;
  }
  Matrix mat;
  std::vector<float> f(cols);
  mat.bytes = AllocatePages(static_cast<size_t>(rows * WeightRowBytes(type, cols)));
  auto* bytes = static_cast<uint8_t*>(mat.bytes.get());
  for (int64_t r = 0; r < rows; ++r) {
    Fill(f.data(), cols, static_cast<uint32_t>(r));
    for (int64_t c = 0; c < cols; ++c) f[c] *= 0.05f;
    if (type == WeightFormat::kF32) {
      std::memcpy(bytes + r * cols * 4, f.data(), cols * 4);
    } else {
      uint16_t* h = reinterpret_cast<uint16_t*>(bytes) + r * cols;
      for (int64_t c = 0; c < cols; ++c) h[c] = F32ToBf16(f[c]);  // f16 gets bf16 bits: timing only
    }
  }
  mat.view = WeightView{bytes, type, rows, cols};
  return mat;
}

size_t WeightBytes(const WeightView& w) {
  return static_cast<size_t>(w.rows * WeightRowBytes(w.type, w.cols));
}

struct MatMulCase {
  const char* name;
  int64_t n, k;
};

void BM_MatMul(benchmark::State& state, MatMulCase c, WeightFormat type, int64_t m, int64_t target,
               MatMulKernel kernel) {
  static std::string cached_key;
  static Matrix cached;  // the lm_head matrix is 622 MB: keep one matrix alive at a time
  const std::string key = std::string(c.name) + WeightFormatName(type);
  if (key != cached_key) {
    cached = Matrix{};
    cached = MakeWeights(c.n, c.k, type);
    cached_key = key;
  }
  std::vector<float> x(m * c.k), y(m * c.n), bias(c.n);
  Fill(x.data(), m * c.k, 7);
  Fill(bias.data(), c.n, 8);
  ForceTarget(target);
  for (auto _ : state) {
    MatMul(x.data(), m, cached.view, bias.data(), y.data(), Pool(), kernel);
    benchmark::DoNotOptimize(y.data());
  }
  ForceTarget(0);
  const double flops = 2.0 * m * c.n * c.k;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] = benchmark::Counter(WeightBytes(cached.view) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

// Streaming read of a 1 GiB buffer with one thread per core: the memory bandwidth that decode
// MatMul should approach.
void BM_StreamRead(benchmark::State& state) {
  const int64_t n = int64_t{1} << 27;  // 2^27 uint64 = 1 GiB
  std::unique_ptr<uint64_t[]> buf(new uint64_t[n]);
  for (int64_t i = 0; i < n; ++i) buf[i] = static_cast<uint64_t>(i);
  std::vector<uint64_t> sums(Pool().size());
  for (auto _ : state) {
    Pool().RunRanges(n / 8, [&](int64_t begin, int64_t end, int worker) {
      uint64_t acc[8] = {};
      for (int64_t i = begin * 8; i < end * 8; i += 8) {
        for (int l = 0; l < 8; ++l) acc[l] += buf[i + l];
      }
      sums[worker] = acc[0] + acc[1] + acc[2] + acc[3] + acc[4] + acc[5] + acc[6] + acc[7];
    });
    benchmark::DoNotOptimize(sums.data());
  }
  state.counters["GB/s"] =
      benchmark::Counter(n * 8 * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_StreamRead)->Unit(benchmark::kMillisecond)->UseRealTime();

#if defined(__x86_64__)
// Arithmetic peaks of this machine, the roofline the GEMMs and attention are set against: one
// thread per core, each running 12 independent chains of one 512-bit instruction on registers
// (no loads). float32 FMA: 32 flops per instruction; vdpbf16ps: 64 (16 lanes × 2 products × 2).
template <bool kBf16>
__attribute__((target("avx512f,avx512bf16"))) float PeakChains(int64_t iters) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i) * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-6f);
  const __m512bh ab = _mm512_cvtne2ps_pbh(a, a), bb = _mm512_cvtne2ps_pbh(b, b);
  for (int64_t it = 0; it < iters; ++it) {
    for (int i = 0; i < 12; ++i) {
      acc[i] = kBf16 ? _mm512_dpbf16_ps(acc[i], ab, bb) : _mm512_fmadd_ps(acc[i], a, b);
    }
  }
  float sum = 0;
  for (int i = 0; i < 12; ++i) sum += _mm512_reduce_add_ps(acc[i]);
  return sum;
}

template <bool kBf16>
void BM_Peak(benchmark::State& state) {
  if (!MatMulKernelRuns(kBf16 ? MatMulKernel::kBf16Dot : MatMulKernel::kF32) ||
      !__builtin_cpu_supports("avx512f")) {
    state.SkipWithError("this CPU has no AVX-512 (BF16)");
    return;
  }
  constexpr int64_t kIters = 1 << 22;
  const int threads = Pool().size();
  std::vector<float> sums(threads);
  for (auto _ : state) {
    Pool().Run(threads, [&](int64_t, int worker) { sums[worker] = PeakChains<kBf16>(kIters); });
    benchmark::DoNotOptimize(sums.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(static_cast<double>(threads) * kIters * 12 * (kBf16 ? 64 : 32) * 1e-9,
                         benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Peak<false>)->Name("Peak/fma_f32")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Peak<true>)->Name("Peak/dpbf16")->Unit(benchmark::kMillisecond)->UseRealTime();
#endif

struct AttentionCase {
  const char* name;
  int64_t q_len, kv_len, num_heads, num_kv_heads, head_dim;
  bool causal;
  KvType kv_type = KvType::kF32;
};

void BM_Attention(benchmark::State& state, AttentionCase c, int64_t target) {
  const int64_t q_stride = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  const int64_t kv_stride = KvRowFloats(c.kv_type, c.num_kv_heads, c.head_dim);
  std::vector<float> q(c.q_len * q_stride), k(c.kv_len * kv), v(c.kv_len * kv),
      out(c.q_len * q_stride);
  Fill(q.data(), q.size(), 1);
  Fill(k.data(), k.size(), 2);
  Fill(v.data(), v.size(), 3);
  std::vector<float> ks(c.kv_len * kv_stride), vs(c.kv_len * kv_stride);
  StoreKvRows(k.data(), kv, c.kv_len, c.kv_type, c.num_kv_heads, c.head_dim, ks.data(), kv_stride);
  StoreKvRows(v.data(), kv, c.kv_len, c.kv_type, c.num_kv_heads, c.head_dim, vs.data(), kv_stride);
  const AttentionArgs args{.q = q.data(),
                           .q_stride = q_stride,
                           .k = ks.data(),
                           .k_stride = kv_stride,
                           .v = vs.data(),
                           .v_stride = kv_stride,
                           .out = out.data(),
                           .out_stride = q_stride,
                           .q_len = c.q_len,
                           .kv_len = c.kv_len,
                           .num_heads = c.num_heads,
                           .num_kv_heads = c.num_kv_heads,
                           .head_dim = c.head_dim,
                           .scale = 1.0f / std::sqrt(float(c.head_dim)),
                           .causal = c.causal,
                           .q_offset = c.kv_len - c.q_len,
                           .kv_type = c.kv_type};
  ForceTarget(target);
  for (auto _ : state) {
    Attention(args, Pool());
    benchmark::DoNotOptimize(out.data());
  }
  ForceTarget(0);
  // q·k and p·v: 4·head_dim flops per (query head, visible key).
  double pairs = 0;
  for (int64_t i = 0; i < c.q_len; ++i) {
    pairs += c.causal ? std::min(c.kv_len, c.kv_len - c.q_len + i + 1) : c.kv_len;
  }
  state.counters["GFLOP/s"] = benchmark::Counter(4.0 * c.num_heads * c.head_dim * pairs * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  // The cache as stored, keys and values, each read once (what decode is bound by).
  state.counters["GB/s"] = benchmark::Counter(2.0 * c.kv_len * kv_stride * 4 * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Elementwise(benchmark::State& state, int kind, int64_t rows, int64_t dim, int64_t target) {
  std::vector<float> a(rows * dim), b(rows * dim), w(dim), c(rows * dim);
  Fill(a.data(), a.size(), 1);
  Fill(b.data(), b.size(), 2);
  Fill(w.data(), w.size(), 3);
  std::vector<float> cs(rows * 128), sn(rows * 128);
  Fill(cs.data(), cs.size(), 4);
  Fill(sn.data(), sn.size(), 5);
  ForceTarget(target);
  for (auto _ : state) {
    c = a;
    if (kind == 0) RmsNorm(a.data(), w.data(), rows, dim, 1e-6f, c.data(), Pool());
    if (kind == 1) SiluMul(c.data(), b.data(), rows * dim);
    if (kind == 2) GeluErf(c.data(), rows * dim);
    if (kind == 3) ApplyRotaryHalf({c.data(), rows, dim, dim / 128, 128, cs.data(), sn.data()});
    benchmark::DoNotOptimize(c.data());
  }
  ForceTarget(0);
  state.counters["elements/s"] = benchmark::Counter(static_cast<double>(rows * dim),
                                                    benchmark::Counter::kIsIterationInvariantRate);
}

void RegisterOthers() {
  const std::vector<int64_t> targets = AvailableTargets();
  const AttentionCase cases[] = {
      {"decoder.decode_kv4096_16x2x128", 1, 4096, 16, 2, 128, true},
      {"decoder.decode_kv4096_16x2x128_bf16", 1, 4096, 16, 2, 128, true, KvType::kBf16},
      {"decoder.decode_kv4096_16x2x128_q8", 1, 4096, 16, 2, 128, true, KvType::kQ8},
      {"decoder.decode_kv32768_16x2x128", 1, 32768, 16, 2, 128, true},
      {"decoder.decode_kv32768_16x2x128_bf16", 1, 32768, 16, 2, 128, true, KvType::kBf16},
      {"decoder.decode_kv32768_16x2x128_q8", 1, 32768, 16, 2, 128, true, KvType::kQ8},
      {"decoder.prefill_512_16x2x128", 512, 512, 16, 2, 128, true},
      {"vision.window_64_16x80", 64, 64, 16, 16, 80, false},
      {"vision.full_1024_16x80", 1024, 1024, 16, 16, 80, false}};
  for (const AttentionCase& c : cases) {
    for (int64_t target : {targets.front(), targets.back()}) {
      const std::string name = std::string("Attention/") + c.name + "/" + TargetName(target);
      benchmark::RegisterBenchmark(name.c_str(), BM_Attention, c, target)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
  const char* names[] = {"RmsNorm", "SiluMul", "GeluErf", "Rotary"};
  for (int kind = 0; kind < 4; ++kind) {
    for (int64_t target : {targets.front(), targets.back()}) {
      const int64_t dim = kind == 2 ? 5120 : (kind == 1 ? 11008 : 2048);
      const std::string name =
          std::string(names[kind]) + "/512x" + std::to_string(dim) + "/" + TargetName(target);
      benchmark::RegisterBenchmark(name.c_str(), BM_Elementwise, kind, 512, dim, target)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
  }
}

void RegisterMatMuls() {
  const MatMulCase cases[] = {
      {"decoder.q_o_2048x2048", 2048, 2048},         {"decoder.k_v_256x2048", 256, 2048},
      {"decoder.gate_up_11008x2048", 11008, 2048},   {"decoder.down_2048x11008", 2048, 11008},
      {"decoder.lm_head_151936x2048", 151936, 2048}, {"vision.qkv_3840x1280", 3840, 1280},
      {"vision.proj_1280x1280", 1280, 1280},         {"vision.mlp_gate_up_3420x1280", 3420, 1280},
      {"vision.mlp_down_1280x3420", 1280, 3420},     {"merger.fc1_5120x5120", 5120, 5120}};
  const std::vector<int64_t> targets = AvailableTargets();
  const int64_t scalar = targets.back();
  for (const MatMulCase& c : cases) {
    const bool lm_head = c.n > 100000;
    for (WeightFormat type : {WeightFormat::kBF16, WeightFormat::kF16, WeightFormat::kF32,
                              WeightFormat::kQ8, WeightFormat::kQ4}) {
      for (int64_t m : {1, 64, 512}) {
        if (lm_head && m > 1) continue;
        if ((type == WeightFormat::kF16 || type == WeightFormat::kF32) && (m == 512 || lm_head)) {
          continue;
        }
        for (MatMulKernel kernel : kAllMatMulKernels) {
          if (!MatMulKernelRuns(kernel) || !MatMulKernelTakes(kernel, type)) continue;
          for (int64_t target : {targets.front(), scalar}) {
            // The scalar target only for the float32 kernel on bf16 weights (the reference speed).
            if (target == scalar && (kernel != MatMulKernel::kF32 || type != WeightFormat::kBF16 ||
                                     m == 512 || lm_head)) {
              continue;
            }
            const std::string name = std::string("MatMul/") + c.name + "/" +
                                     WeightFormatName(type) + "/m:" + std::to_string(m) + "/" +
                                     std::string(MatMulKernelName(kernel)) +
                                     (kernel == MatMulKernel::kF32 ? "/" + TargetName(target) : "");
            benchmark::RegisterBenchmark(name.c_str(), BM_MatMul, c, type, m, target, kernel)
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace qwenvl::kernels

int main(int argc, char** argv) {
  qwenvl::kernels::RegisterMatMuls();
  qwenvl::kernels::RegisterOthers();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
