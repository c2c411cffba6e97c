// qwenvl bench -m DIR: load time, vision encoder time for a synthetic image, prefill and decode
// throughput, peak memory and the decoder's weight traffic per token, at a chosen precision.
// Runs the model directly (model::Model / model::Sequence), without the engine's prompt handling,
// so that the figures are those of the forward passes alone.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/model_argument.h"
#include "cli/run_options.h"
#include "compute/backends.h"
#include "compute/cpu_backend.h"
#include "kernels/dispatch.h"
#include "kernels/ops.h"
#include "media/preprocessor_config.h"
#include "media/smart_resize.h"
#include "model/qwen2_5_vl.h"
#include "runtime/model_weight_cache.h"
#include "util/cpu_info.h"
#include "util/error.h"

namespace qwenvl::cli {
namespace {

using Clock = std::chrono::steady_clock;
double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct BenchArgs {
  std::string model_dir;
  std::string image_size = "448x448";
  int64_t prompt_tokens = 128;
  int64_t gen_tokens = 32;
  int threads = 0;
  std::string backend = "cpu";
  std::string kernels = "auto";
  std::string weights = "bf16";
  std::string vision_weights = "bf16";
  int repeats = 3;
  bool json = false;
  bool mmap = false;  // read the decoder through the file mapping (not resident)
  bool no_weight_cache = false;
  std::string kv_type;  // empty: as the engine chooses (KvTypeFor)
};

// "WxH" → {width, height}.
std::pair<int64_t, int64_t> ParseSize(const std::string& s) {
  const size_t x = s.find('x');
  try {
    if (x != std::string::npos) {
      size_t end_w = 0, end_h = 0;
      const int64_t w = std::stoll(s.substr(0, x), &end_w);
      const int64_t h = std::stoll(s.substr(x + 1), &end_h);
      if (end_w == x && end_h == s.size() - x - 1 && w > 0 && h > 0) return {w, h};
    }
  } catch (const std::exception&) {
  }
  throw Error(ErrorCode::kInvalidArgument, "--image-size must be WIDTHxHEIGHT, got '" + s + "'");
}

// Minimum and median of a list of samples.
struct Stat {
  double min = 0, median = 0;
};
Stat Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Stat s;
  if (v.empty()) return s;
  s.min = v.front();
  const size_t n = v.size();
  s.median = n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  return s;
}

void CheckFinite(std::span<const float> logits, const char* where) {
  for (float v : logits) {
    if (!std::isfinite(v))
      throw Error(ErrorCode::kInternal, std::string("bench: non-finite logits after ") + where);
  }
}

TokenId ArgMax(std::span<const float> logits) {
  return static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

// Seconds of one repeat's phases.
struct RepeatTimes {
  double vision = 0, prefill = 0, decode = 0;
};

struct BenchInput {
  std::vector<float> pixels;  // [t·h·w, patch_dim]
  model::GridThw grid;
  std::vector<TokenId> prompt;  // plain text ids
};

// A synthetic picture of the asked size at the model's default pixel budget (§6.2), and a prompt
// of random ordinary-text token ids (below the special tokens).
BenchInput MakeInput(const model::Model& m, const BenchArgs& a, int64_t width, int64_t height) {
  const media::PreprocessorConfig pre = media::LoadPreprocessorConfig(a.model_dir);
  const media::ResizedSize r =
      media::SmartResize(height, width, pre.factor(), pre.min_pixels, pre.max_pixels);
  const io::VisionConfig& vc = m.config().vision;
  BenchInput in;
  in.grid = {1, r.height / vc.patch_size, r.width / vc.patch_size};
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> pixel(-1.8f, 2.1f);  // the normalized CLIP range
  in.pixels.resize(static_cast<size_t>(in.grid.num_patches() * vc.patch_dim()));
  for (float& p : in.pixels) p = pixel(rng);
  const auto text_vocab =
      static_cast<TokenId>(std::min<int64_t>(m.config().image_token_id, m.decoder().vocab_size()));
  std::uniform_int_distribution<TokenId> id(0, std::max<TokenId>(text_vocab - 400, 1));
  in.prompt.resize(static_cast<size_t>(a.prompt_tokens));
  for (TokenId& t : in.prompt) t = id(rng);
  return in;
}

RepeatTimes RunOnce(const model::Model& m, const BenchInput& in, const BenchArgs& a) {
  RepeatTimes t;
  auto start = Clock::now();
  const std::vector<float> features = m.vision().Encode(in.pixels, {&in.grid, 1});
  t.vision = SecondsSince(start);
  CheckFinite(features, "the vision encoder");

  model::Sequence sequence(m, a.prompt_tokens + a.gen_tokens + 1);
  model::PromptInput prompt;
  prompt.input_ids = in.prompt;
  start = Clock::now();
  sequence.Append(prompt, {});
  t.prefill = SecondsSince(start);
  CheckFinite(sequence.logits(), "prefill");

  TokenId token = ArgMax(sequence.logits());
  start = Clock::now();
  for (int64_t i = 0; i < a.gen_tokens; ++i) token = ArgMax(sequence.Step(token));
  t.decode = SecondsSince(start);
  CheckFinite(sequence.logits(), "decode");
  return t;
}

// GB/s of a streaming read of 1 GiB of fresh memory over the pool (best of 3): the bandwidth
// that decode, which reads every weight once per token, is compared with. Measured after the
// model runs, so the buffer does not count in the reported peak RSS.
double StreamReadGbPerS(ThreadPool& pool) {
  const int64_t n = int64_t{1} << 28;  // floats
  std::vector<float> buffer(static_cast<size_t>(n), 1.0f);
  double best = 0;
  for (int r = 0; r < 3; ++r) {
    const auto start = Clock::now();
    volatile float sum = kernels::StreamRead(buffer.data(), n, pool);  // volatile: not elided
    const double s = SecondsSince(start);
    (void)sum;
    best = std::max(best, static_cast<double>(n) * sizeof(float) / s / 1e9);
  }
  return best;
}

double PeakRssMiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux: KiB
}

// The CPU as the kernel cache keys it.
nlohmann::json CpuJson() {
  const CpuInfo& c = ThisCpu();
  return {{"vendor", c.vendor},     {"family", c.family}, {"model", c.model},
          {"stepping", c.stepping}, {"brand", c.brand},   {"features", c.features}};
}

// Which MatMul kernel each weight format and size runs, how it was decided, and the calibration
// times when it was measured in this process; the float32 kernel's SIMD target.
nlohmann::json KernelsJson(const compute::Backend& backend) {
  // Attention, norms, rotary and the activations have one kernel each (float32, Highway's best
  // target): only MatMul has variants to choose from.
  nlohmann::json j = {{"f32_simd_target", kernels::TargetName(kernels::CurrentTarget())},
                      {"attention", "f32"}};
  const auto* cpu = dynamic_cast<const compute::CpuBackend*>(&backend);
  if (cpu == nullptr) return j;
  nlohmann::json matmul = nlohmann::json::array();
  for (const compute::KernelDecision& d : cpu->kernel_choice().decisions()) {
    nlohmann::json e = {{"weights", WeightFormatName(d.format)},
                        {"size", std::string(compute::MatMulSizeName(d.size))},
                        {"kernel", std::string(kernels::MatMulKernelName(d.kernel))},
                        {"how", d.how}};
    for (const auto& [k, ms] : d.ms)
      e["calibration_ms"][std::string(kernels::MatMulKernelName(k))] = ms;
    matmul.push_back(e);
  }
  j["matmul"] = matmul;
  j["cache"] = cpu->kernel_choice().cache_path();
  if (const std::string problem = cpu->kernel_choice().cache_problem(); !problem.empty()) {
    j["cache_problem"] = problem;
  }
  return j;
}

// "bf16 gemm amx-bf16, bf16 gemv bf16-dot, ..." for the text report.
std::string KernelsLine(const nlohmann::json& k) {
  std::string out;
  if (!k.contains("matmul")) return "n/a";
  for (const auto& e : k["matmul"]) {
    out += (out.empty() ? "" : ", ") + e["weights"].get<std::string>() + " " +
           e["size"].get<std::string>() + " " + e["kernel"].get<std::string>();
  }
  return out;
}

// The figures as JSON; p and d hold negated throughputs (their minimum is the best).
nlohmann::json Report(const model::Model& m, const BenchArgs& a, const BenchInput& in,
                      double load_s, int threads, Stat v, Stat p, Stat d, double stream_gb_s) {
  const int64_t bytes_per_token = m.decoder().WeightBytesPerToken();
  const auto& vc = m.config().vision;
  return {
      {"model", a.model_dir},
      {"threads", threads},
      {"backend", a.backend},
      {"cpu", CpuJson()},
      {"weights", a.weights},
      {"resident_weights", !a.mmap},
      {"vision_weights", a.vision_weights},
      {"kv_type", KvTypeName(m.kv_type())},
      {"repeats", a.repeats},
      {"load_s", load_s},
      {"image",
       {{"asked", a.image_size},
        {"resized", std::to_string(in.grid.w * vc.patch_size) + "x" +
                        std::to_string(in.grid.h * vc.patch_size)},
        {"patches", in.grid.num_patches()}}},
      {"vision_ms", {{"min", v.min}, {"median", v.median}}},
      {"prompt_tokens", a.prompt_tokens},
      {"prefill_tokens_per_s", {{"best", -p.min}, {"median", -p.median}}},
      {"gen_tokens", a.gen_tokens},
      {"decode_tokens_per_s", {{"best", -d.min}, {"median", -d.median}}},
      {"weight_bytes_per_token", bytes_per_token},
      {"effective_gb_per_s",
       {{"best", -d.min * bytes_per_token / 1e9}, {"median", -d.median * bytes_per_token / 1e9}}},
      {"peak_rss_mib", PeakRssMiB()},
      {"stream_read_gb_per_s", stream_gb_s},
  };
}

void RunBench(const BenchArgs& a) {
  if (a.prompt_tokens < 1 || a.gen_tokens < 1 || a.repeats < 1)
    throw Error(ErrorCode::kInvalidArgument,
                "--prompt-tokens, --gen-tokens and --repeats must be at least 1");
  const auto [width, height] = ParseSize(a.image_size);
  ThreadPool pool(a.threads);
  const auto load_start = Clock::now();
  const std::unique_ptr<compute::Backend> backend =
      compute::MakeBackend(a.backend, pool, {.spec = a.kernels, .cache_path = ""});
  const WeightPrecision text = ParseWeightPrecision(a.weights);
  const WeightPrecision vision = ParseWeightPrecision(a.vision_weights);
  const std::unique_ptr<compute::WeightCache> cache =
      runtime::MakeModelWeightCache(a.model_dir, a.no_weight_cache ? "off" : "", text, vision);
  const model::Model m(a.model_dir, *backend,
                       {.text = text,
                        .vision = vision,
                        .resident_text = !a.mmap,
                        .weight_cache = cache.get(),
                        .kv = KvTypeFor(a.kv_type, a.kernels)});
  const double load_s = SecondsSince(load_start);
  const BenchInput in = MakeInput(m, a, width, height);
  // Warm-up, not timed: a small picture and a short prompt touch every weight once, so that the
  // first repeat does not pay the page faults of the mapped matrices (llama-bench warms up too).
  {
    BenchArgs small = a;
    small.prompt_tokens = std::min<int64_t>(a.prompt_tokens, 8);
    small.gen_tokens = 1;
    RunOnce(m, MakeInput(m, small, 56, 56), small);
  }

  std::vector<double> vision_ms, prefill_tps, decode_tps;
  for (int r = 0; r < a.repeats; ++r) {
    const RepeatTimes t = RunOnce(m, in, a);
    vision_ms.push_back(1e3 * t.vision);
    // Negated so that Summarize's minimum is the best throughput.
    prefill_tps.push_back(-static_cast<double>(a.prompt_tokens) / t.prefill);
    decode_tps.push_back(-static_cast<double>(a.gen_tokens) / t.decode);
  }
  const double peak_rss = PeakRssMiB();  // before the streaming read's buffer
  nlohmann::json j = Report(m, a, in, load_s, pool.size(), Summarize(vision_ms),
                            Summarize(prefill_tps), Summarize(decode_tps), StreamReadGbPerS(pool));
  j["peak_rss_mib"] = peak_rss;
  j["kernels"] = KernelsJson(*backend);
  // Quantized matrices mapped from the weight cache, and quantized at this load.
  j["weight_cache"] = cache ? nlohmann::json{{"mapped", cache->hits()},
                                             {"quantized", cache->misses()},
                                             {"problem", cache->problem()}}
                            : nlohmann::json("off");
  if (a.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf(
      "load %.2f s | vision %s %.1f ms (median %.1f) | prefill %.1f tok/s (median %.1f) | "
      "decode %.2f tok/s (median %.2f) | %.1f MB/token, %.2f GB/s (stream read %.1f GB/s) | peak "
      "RSS %.0f MiB | %d threads, %s/%s\n",
      load_s, j["image"]["resized"].get<std::string>().c_str(), j["vision_ms"]["min"].get<double>(),
      j["vision_ms"]["median"].get<double>(), j["prefill_tokens_per_s"]["best"].get<double>(),
      j["prefill_tokens_per_s"]["median"].get<double>(),
      j["decode_tokens_per_s"]["best"].get<double>(),
      j["decode_tokens_per_s"]["median"].get<double>(),
      j["weight_bytes_per_token"].get<double>() / 1e6,
      j["effective_gb_per_s"]["best"].get<double>(), j["stream_read_gb_per_s"].get<double>(),
      j["peak_rss_mib"].get<double>(), pool.size(), a.weights.c_str(), a.vision_weights.c_str());
  std::printf("kv cache %s\n", j["kv_type"].get<std::string>().c_str());
  const CpuInfo& cpu = ThisCpu();
  std::printf("cpu %s family %d model %d (%s) | kernels: %s\n", cpu.vendor.c_str(), cpu.family,
              cpu.model, cpu.brand.c_str(), KernelsLine(j["kernels"]).c_str());
}

}  // namespace

void AddBenchCommand(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Measure load, vision encoder, prefill and decode speed and memory on a model");
  cmd->add_option("-m,--model", args->model_dir, "Model folder or hub name ORG/NAME[@REV]")
      ->required()
      ->transform(ModelArgument());
  cmd->add_option("--image-size", args->image_size,
                  "Synthetic picture WIDTHxHEIGHT (resized at the model's pixel budget)");
  cmd->add_option("--prompt-tokens", args->prompt_tokens, "Prefill length in tokens");
  cmd->add_option("--gen-tokens", args->gen_tokens, "Decode steps");
  cmd->add_option("-t,--threads", args->threads, "Worker threads (0: one per core)");
  cmd->add_option("--backend", args->backend,
                  "Compute backend: cpu, or reference (plain scalar kernels on one thread)")
      ->check(CLI::IsMember(compute::BackendNames()));
  AddKernelsOption(cmd, args->kernels);
  AddKvTypeOption(cmd, args->kv_type, "bf16 (f32 with --kernels f32)");
  cmd->add_option("--weights", args->weights, "Decoder weights: " + WeightPrecisionChoices());
  cmd->add_flag(
      "--mmap", args->mmap,
      "Read the decoder's weights (stored, or q8/q4 from the weight cache) through the file "
      "mapping instead of copying them into memory at load");
  cmd->add_option("--vision-weights", args->vision_weights,
                  "Vision tower weights: " + WeightPrecisionChoices());
  AddNoWeightCacheFlag(cmd, args->no_weight_cache);
  cmd->add_option("--repeats", args->repeats, "Repeats (min and median reported)");
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->callback([args] { RunBench(*args); });
}

}  // namespace qwenvl::cli
