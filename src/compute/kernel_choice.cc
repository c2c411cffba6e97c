#include "compute/kernel_choice.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "compute/kernel_sources_hash.h"
#include "kernels/ops.h"
#include "util/bf16.h"
#include "util/cpu_info.h"
#include "util/error.h"
#include "util/replace_file.h"

namespace qwenvl::compute {
namespace {

using kernels::MatMulKernel;
namespace fs = std::filesystem;

// Entries are keyed by the kernels' sources too (a hash made by the build): a measurement taken
// with other kernels is not trusted. Bump the version when the calibration itself changes.
constexpr int kCacheVersion = 4;

constexpr WeightFormat kFormats[] = {WeightFormat::kF32, WeightFormat::kBF16, WeightFormat::kF16,
                                     WeightFormat::kQ8, WeightFormat::kQ4};
constexpr MatMulSize kSizes[] = {MatMulSize::kGemv, MatMulSize::kGemm};

std::optional<WeightFormat> ParseFormat(std::string_view s) {
  for (WeightFormat f : kFormats) {
    if (s == WeightFormatName(f)) return f;
  }
  return std::nullopt;
}

std::optional<MatMulSize> ParseSize(std::string_view s) {
  for (MatMulSize z : kSizes) {
    if (s == MatMulSizeName(z)) return z;
  }
  return std::nullopt;
}

std::string Trim(std::string s) {
  const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!s.empty() && space(s.back())) s.pop_back();
  size_t i = 0;
  while (i < s.size() && space(s[i])) ++i;
  return s.substr(i);
}

std::string KernelNames() {
  std::string out;
  for (MatMulKernel k : kernels::kAllMatMulKernels) {
    out += (out.empty() ? "" : ", ") + std::string(kernels::MatMulKernelName(k));
  }
  return out;
}

std::string CpuFeatures() {
  std::string out;
  for (const std::string& f : ThisCpu().features) out += (out.empty() ? "" : " ") + f;
  return out.empty() ? "none" : out;
}

// ---- measurement -------------------------------------------------------------------------------

// A random weight matrix of `format` (values about ±0.05, all normal numbers).
struct CalibrationMatrix {
  std::vector<uint8_t> bytes;
  kernels::QuantizedMatrix quantized;
  kernels::WeightView view;
};

CalibrationMatrix MakeMatrix(WeightFormat format, int64_t rows, int64_t cols, ThreadPool& pool) {
  CalibrationMatrix m;
  std::mt19937 rng(12345);
  std::uniform_real_distribution<float> dist(-0.05f, 0.05f);
  const WeightFormat stored = kernels::IsQuantized(format) ? WeightFormat::kBF16 : format;
  m.bytes.resize(static_cast<size_t>(rows * WeightRowBytes(stored, cols)));
  for (int64_t i = 0; i < rows * cols; ++i) {
    const float v = dist(rng);
    switch (stored) {
      case WeightFormat::kF32:
        std::memcpy(m.bytes.data() + 4 * i, &v, 4);
        break;
      case WeightFormat::kF16: {
        // Normal half floats of magnitude 2^-6 .. 2^-3.
        const uint16_t bits = static_cast<uint16_t>(
            (v < 0 ? 0x8000u : 0u) | ((9u + static_cast<uint32_t>(rng() % 3)) << 10) |
            (rng() & 0x3ffu));
        std::memcpy(m.bytes.data() + 2 * i, &bits, 2);
        break;
      }
      default: {
        const uint16_t bits = F32ToBf16(v);
        std::memcpy(m.bytes.data() + 2 * i, &bits, 2);
        break;
      }
    }
  }
  m.view = kernels::WeightView{m.bytes.data(), stored, rows, cols};
  if (kernels::IsQuantized(format)) {
    m.quantized = kernels::Quantize(m.view, format, pool);
    m.view = m.quantized.view();
    m.bytes.clear();
    m.bytes.shrink_to_fit();
  }
  return m;
}

// Best of a few calls, in milliseconds, after one warm-up call.
double TimeMatMul(const std::vector<float>& x, int64_t m, const kernels::WeightView& w,
                  std::vector<float>& y, ThreadPool& pool, MatMulKernel kernel) {
  using Clock = std::chrono::steady_clock;
  kernels::MatMul(x.data(), m, w, nullptr, y.data(), pool, kernel);
  double best = 1e30;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = Clock::now();
    kernels::MatMul(x.data(), m, w, nullptr, y.data(), pool, kernel);
    best = std::min(best, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return best;
}

// Calibration shapes: a prefill-like GEMM (a 256-token prefill chunk through 1024 rows of a
// 2048-wide decoder) and a decode GEMV (one row through a 2048 × 2048 matrix, which stays in cache:
// it ranks the kernels' arithmetic, while the weights' bytes per element, equal for every kernel of
// a format, set the DRAM cost). The GEMM needs as many weight rows per row of x as the model's
// products have: a kernel that packs x at a cost (int8 quantizes it) repays that over the weight
// rows, and on 256 rows (the shape before) packing dominated and the int8 GEMM lost on AMD Zen 5
// to bf16 dot products it beats by 1.5x on the model's own products.
KernelDecision Measure(WeightFormat format, MatMulSize size, std::vector<MatMulKernel> candidates,
                       ThreadPool& pool) {
  const int64_t m = size == MatMulSize::kGemm ? 256 : 1, k = 2048;
  const int64_t n = size == MatMulSize::kGemm ? 1024 : 2048;
  const CalibrationMatrix w = MakeMatrix(format, n, k, pool);
  std::vector<float> x(m * k), y(m * n);
  std::mt19937 rng(777);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float& v : x) v = dist(rng);
  KernelDecision d{format, size, candidates.front(), "measured", {}};
  double best = 1e30;
  for (MatMulKernel kernel : candidates) {
    const double ms = TimeMatMul(x, m, w.view, y, pool, kernel);
    d.ms.emplace_back(kernel, ms);
    if (ms < best) {
      best = ms;
      d.kernel = kernel;
    }
  }
  return d;
}

// What "auto" may pick. f32 and f16 weights keep float32 arithmetic: a checkpoint kept at that
// precision asks for it (the fixtures compare such runs with transformers in float32). bf16 and
// quantized weights may also round x, as a bf16 run of the reference stack does.
std::vector<MatMulKernel> Candidates(WeightFormat format) {
  if (format == WeightFormat::kF32 || format == WeightFormat::kF16) return {MatMulKernel::kF32};
  std::vector<MatMulKernel> out;
  for (MatMulKernel k : kernels::kAllMatMulKernels) {
    if (kernels::MatMulKernelRuns(k) && kernels::MatMulKernelTakes(k, format)) out.push_back(k);
  }
  return out;
}

// ---- the cache file ----------------------------------------------------------------------------

std::string DefaultCachePath() {
  if (const char* p = std::getenv("QWENVL_KERNEL_CACHE"); p != nullptr && *p != '\0') return p;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x == '/') {
    return std::string(x) + "/qwenvl/kernels.json";
  }
  if (const char* h = std::getenv("HOME"); h != nullptr && *h == '/') {
    return std::string(h) + "/.cache/qwenvl/kernels.json";
  }
  return "";
}

std::string MachineKey(const ThreadPool& pool) {
  return ThisCpu().Key() + "|threads=" + std::to_string(pool.size()) +
         "|v=" + std::to_string(kCacheVersion) + "|kernels=" + QWENVL_KERNEL_SOURCES_HASH;
}

}  // namespace

std::string KernelCacheMachineKey(const ThreadPool& pool) { return MachineKey(pool); }

namespace {

std::string EntryName(WeightFormat f, MatMulSize z) {
  return std::string(WeightFormatName(f)) + "." + std::string(MatMulSizeName(z));
}

// The whole file, or an empty object when it is missing or not a JSON object (it is rewritten).
nlohmann::json ReadCache(const std::string& path, std::string& problem) {
  if (path.empty()) return nlohmann::json::object();
  std::ifstream in(path, std::ios::binary);
  if (!in) return nlohmann::json::object();
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    problem = "ignored " + path + ": not a JSON object";
    return nlohmann::json::object();
  }
  return j;
}

// The cached kernel of an entry, when it names one that runs here and takes the format.
std::optional<MatMulKernel> CachedKernel(const nlohmann::json& cache, const std::string& machine,
                                         WeightFormat f, MatMulSize z) {
  const auto m = cache.find(machine);
  if (m == cache.end() || !m->is_object()) return std::nullopt;
  const auto e = m->find(EntryName(f, z));
  if (e == m->end() || !e->is_string()) return std::nullopt;
  const std::optional<MatMulKernel> k = kernels::ParseMatMulKernel(e->get<std::string>());
  if (!k || !kernels::MatMulKernelRuns(*k) || !kernels::MatMulKernelTakes(*k, f)) {
    return std::nullopt;
  }
  return k;
}

// Writes this machine's entries into the file as it is now (another process may have added its
// own since it was read), dropping the entries of this CPU and thread count measured with other
// kernel sources, through a temporary file renamed over it so that readers see whole files.
void WriteCache(const std::string& path, const std::string& machine, const nlohmann::json& ours,
                std::string& problem) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  std::string ignored;
  nlohmann::json cache = ReadCache(path, ignored);
  const std::string same_cpu = machine.substr(0, machine.find("|kernels="));
  for (auto it = cache.begin(); it != cache.end();) {
    if (it.key() != machine && it.key().rfind(same_cpu + "|kernels=", 0) == 0) {
      it = cache.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [entry, kernel] : ours.items()) cache[machine][entry] = kernel;
  try {
    ReplaceFile(path, cache.dump(2) + "\n");
  } catch (const Error& e) {
    problem = e.what();
  }
}

// Decisions already made in this process, per machine key and cache file: engines made one after
// another (tests, a server's reload) measure once.
std::mutex memo_mu;
std::map<std::string, std::map<WeightFormat, std::array<KernelDecision, 2>>>& Memo() {
  static auto* memo =
      new std::map<std::string, std::map<WeightFormat, std::array<KernelDecision, 2>>>;
  return *memo;
}

}  // namespace

std::string_view MatMulSizeName(MatMulSize size) {
  return size == MatMulSize::kGemv ? "gemv" : "gemm";
}

KernelSpec ParseKernelSpec(const std::string& spec) {
  KernelSpec out;
  const std::string all = Trim(spec);
  if (all.empty() || all == "auto") return out;
  if (all == "measure") {
    out.measure_again = true;
    return out;
  }
  std::stringstream items(all);
  std::string item;
  while (std::getline(items, item, ',')) {
    item = Trim(item);
    const auto bad = [&](const std::string& why) {
      // The item as it can be printed: control bytes shown as '?', long ones cut.
      std::string shown = item.substr(0, 64);
      for (char& c : shown) c = static_cast<unsigned char>(c) < 0x20 ? '?' : c;
      if (item.size() > 64) shown += "...";
      return Error(ErrorCode::kInvalidArgument, "--kernels: '" + shown + "': " + why);
    };
    if (item.empty()) throw bad("empty item (expected [SELECTOR=]KERNEL)");
    const size_t eq = item.find('=');
    const std::string selector = eq == std::string::npos ? "" : Trim(item.substr(0, eq));
    const std::string name = Trim(eq == std::string::npos ? item : item.substr(eq + 1));
    const std::optional<MatMulKernel> kernel = kernels::ParseMatMulKernel(name);
    if (!kernel) throw bad("unknown kernel '" + name + "' (known: " + KernelNames() + ")");
    if (!kernels::MatMulKernelRuns(*kernel)) {
      throw bad("kernel " + name + " does not run on this CPU (it has: " + CpuFeatures() + ")");
    }
    std::vector<WeightFormat> formats(std::begin(kFormats), std::end(kFormats));
    std::vector<MatMulSize> sizes(std::begin(kSizes), std::end(kSizes));
    bool named_format = false;
    if (eq != std::string::npos && selector.empty()) throw bad("unknown selector '' before '='");
    if (!selector.empty()) {
      const size_t dot = selector.find('.');
      const std::string first = selector.substr(0, dot);
      const std::optional<WeightFormat> f = ParseFormat(first);
      const std::optional<MatMulSize> z = ParseSize(dot == std::string::npos ? first : "");
      if (dot != std::string::npos) {
        const std::optional<MatMulSize> z2 = ParseSize(selector.substr(dot + 1));
        if (!f || !z2) {
          throw bad(
              "selector must be FORMAT, SIZE or FORMAT.SIZE (formats f32, bf16, f16, q8, "
              "q4; sizes gemv, gemm)");
        }
        formats = {*f};
        sizes = {*z2};
        named_format = true;
      } else if (f) {
        formats = {*f};
        named_format = true;
      } else if (z) {
        sizes = {*z};
      } else {
        throw bad("unknown selector '" + selector +
                  "' (formats f32, bf16, f16, q8, q4; sizes gemv, gemm)");
      }
    }
    int applied = 0;
    for (WeightFormat f : formats) {
      if (!kernels::MatMulKernelTakes(*kernel, f)) {
        if (named_format)
          throw bad("kernel " + name + " does not take " + WeightFormatName(f) +
                    " weights (int8 takes q8 and q4)");
        continue;
      }
      for (MatMulSize z : sizes) out.forced[{f, z}] = *kernel, ++applied;
    }
    if (applied == 0) throw bad("kernel " + name + " takes none of the formats selected");
  }
  return out;
}

namespace {
std::string SpecOrEnvironment(const std::string& spec) {
  const std::string s = Trim(spec);
  if (!s.empty() && s != "auto") return s;
  const char* env = std::getenv("QWENVL_KERNELS");
  return env != nullptr ? env : s;
}
}  // namespace

KernelChoice::KernelChoice(ThreadPool& pool, KernelChoiceOptions options)
    : pool_(pool),
      spec_(ParseKernelSpec(SpecOrEnvironment(options.spec))),
      cache_path_(options.cache_path == "none"
                      ? ""
                      : (options.cache_path.empty() ? DefaultCachePath() : options.cache_path)) {}

void KernelChoice::Decide(WeightFormat format) {
  std::lock_guard<std::mutex> lock(mu_);
  if (decided_.count(format)) return;
  const std::string machine = MachineKey(pool_);
  const std::string memo_key = machine + "|" + cache_path_;
  std::array<KernelDecision, 2> d;
  {
    std::lock_guard<std::mutex> memo_lock(memo_mu);
    const auto m = Memo().find(memo_key);
    if (m != Memo().end() && m->second.count(format)) d = m->second.at(format);
  }
  const bool memoized = !d[1].how.empty() && !spec_.measure_again;
  // Both sizes forced: nothing to read, measure or write.
  const bool all_forced = spec_.forced.count({format, MatMulSize::kGemv}) &&
                          spec_.forced.count({format, MatMulSize::kGemm});
  nlohmann::json cache;
  bool cache_changed = false;
  if (!memoized && !all_forced) {
    cache = ReadCache(cache_path_, cache_problem_);
    const std::vector<MatMulKernel> candidates = Candidates(format);
    // GEMM first: for stored formats it sets the rounding the GEMV must share.
    for (MatMulSize z : {MatMulSize::kGemm, MatMulSize::kGemv}) {
      KernelDecision& dz = d[static_cast<int>(z)];
      std::vector<MatMulKernel> cands = candidates;
      if (z == MatMulSize::kGemv && !kernels::IsQuantized(format)) {
        const bool rounds = kernels::MatMulKernelRoundsToBf16(d[1].kernel);
        std::erase_if(
            cands, [&](MatMulKernel k) { return kernels::MatMulKernelRoundsToBf16(k) != rounds; });
        if (cands.empty()) cands = {MatMulKernel::kBf16Dot};
      }
      // GEMV sizes run the AMX kernel's bf16-dot path: measuring both would measure one twice.
      if (z == MatMulSize::kGemv && cands.size() > 1) std::erase(cands, MatMulKernel::kAmxBf16);
      if (const auto cached =
              spec_.measure_again ? std::nullopt : CachedKernel(cache, machine, format, z);
          cached && std::find(cands.begin(), cands.end(), *cached) != cands.end()) {
        dz = KernelDecision{format, z, *cached, "cached", {}};
      } else if (cands.size() == 1) {
        dz = KernelDecision{format, z, cands.front(), "only candidate", {}};
      } else {
        dz = Measure(format, z, cands, pool_);
        cache[machine][EntryName(format, z)] = std::string(kernels::MatMulKernelName(dz.kernel));
        cache_changed = true;
      }
    }
    std::lock_guard<std::mutex> memo_lock(memo_mu);
    Memo()[memo_key][format] = d;
  }
  if (cache_changed && !cache_path_.empty()) {
    WriteCache(cache_path_, machine, cache[machine], cache_problem_);
  }
  // Forced kernels replace the automatic choice; a stored format's GEMV follows a forced GEMM's
  // rounding unless it is forced too.
  for (MatMulSize z : {MatMulSize::kGemm, MatMulSize::kGemv}) {
    KernelDecision& dz = d[static_cast<int>(z)];
    const auto f = spec_.forced.find({format, z});
    if (f != spec_.forced.end()) {
      dz = KernelDecision{format, z, f->second, "forced", {}};
    } else if (z == MatMulSize::kGemv && !kernels::IsQuantized(format) &&
               kernels::MatMulKernelRoundsToBf16(d[1].kernel) !=
                   kernels::MatMulKernelRoundsToBf16(dz.kernel)) {
      const MatMulKernel k = kernels::MatMulKernelRoundsToBf16(d[1].kernel) ? MatMulKernel::kBf16Dot
                                                                            : MatMulKernel::kF32;
      dz = KernelDecision{format, z, k, "follows gemm rounding", {}};
    }
  }
  decided_[format] = d;
}

kernels::MatMulKernel KernelChoice::Get(WeightFormat format, int64_t m) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = decided_.find(format);
    if (it != decided_.end()) return it->second[static_cast<int>(MatMulSizeOf(m))].kernel;
  }
  Decide(format);
  return Get(format, m);
}

std::vector<KernelDecision> KernelChoice::decisions() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<KernelDecision> out;
  for (const auto& [format, d] : decided_) {
    out.push_back(d[0]);
    out.push_back(d[1]);
  }
  return out;
}

std::string KernelChoice::cache_problem() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cache_problem_;
}

}  // namespace qwenvl::compute
