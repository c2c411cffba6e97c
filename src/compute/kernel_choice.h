// Which MatMul kernel (kernels/matmul_kernel.h) the CPU backend runs, per weight format and size
// class, chosen by measurement on the CPU at hand: the fastest kernel wins, and no kernel is
// dropped because it loses on some other CPU (bf16 dot products lose to float32 FMAs on some Intel
// Xeons and win by 2× on AMD Zen 4/5; AMX exists only on recent Xeons).
//
// A decision is made the first time weights of a format are uploaded: taken from the user's kernel
// cache when this CPU (CpuInfo::Key), thread count and kernel set were measured before, else
// measured (tens of milliseconds per format) and written there. A spec (`--kernels`, or
// QWENVL_KERNELS in the environment) forces kernels instead, for comparisons and for exactness.
//
// "auto" rounds nothing for f32 and f16 weights (float32 arithmetic only); bf16 and quantized
// weights may get kernels that round x.
//
// Rounding stays consistent across sizes for stored formats: when the GEMM kernel of bf16, f16 or
// f32 weights rounds x to bf16, the GEMV does too (and otherwise it does not), so that a row's
// result does not depend on how many rows a batch or a prefill chunk had beyond the order of its
// float32 sums. Quantized formats choose each class freely: their GEMV and GEMM may round x
// differently (int8 per block vs bf16), as the fastest decode needs.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kernels/matmul_kernel.h"
#include "qwenvl/weight_format.h"
#include "util/thread_pool.h"

namespace qwenvl::compute {

enum class MatMulSize : uint8_t {
  kGemv,  // m < kernels::kMatMulGemmRows: decode
  kGemm,  // prefill, vision
};
std::string_view MatMulSizeName(MatMulSize size);  // "gemv", "gemm"

inline MatMulSize MatMulSizeOf(int64_t m) {
  return m < kernels::kMatMulGemmRows ? MatMulSize::kGemv : MatMulSize::kGemm;
}

// Kernels forced by a spec: "auto" (or empty) forces nothing; otherwise comma-separated items
// `KERNEL` (every format the kernel takes), `SELECTOR=KERNEL` with SELECTOR a weight format
// (f32, bf16, f16, q8, q4), a size class (gemv, gemm) or FORMAT.SIZE. Later items override
// earlier ones. Example: "f32" (nothing rounded), "bf16.gemm=bf16-dot,q8=int8".
// "measure" forces nothing either but measures again, ignoring (and then updating) the cache: for
// after a change of machine load or of BIOS settings.
struct KernelSpec {
  std::map<std::pair<WeightFormat, MatMulSize>, kernels::MatMulKernel> forced;
  bool measure_again = false;
};
// Throws Error(kInvalidArgument) naming the item for unknown names, a kernel that does not take
// the format it is given, or one this CPU cannot run (naming what it lacks).
KernelSpec ParseKernelSpec(const std::string& spec);

// The cache file's key for this CPU, thread count, calibration version and kernel sources.
std::string KernelCacheMachineKey(const ThreadPool& pool);

// How one (format, size) pair was decided.
struct KernelDecision {
  WeightFormat format = WeightFormat::kBF16;
  MatMulSize size = MatMulSize::kGemm;
  kernels::MatMulKernel kernel = kernels::MatMulKernel::kF32;
  std::string how;  // "measured", "cached", "forced", "only candidate", "follows gemm rounding"
  // Milliseconds per call on the calibration shape, per candidate measured now (empty otherwise).
  std::vector<std::pair<kernels::MatMulKernel, double>> ms;
};

struct KernelChoiceOptions {
  // A KernelSpec; "auto" (or empty) takes $QWENVL_KERNELS when set.
  std::string spec = "auto";
  // The cache file; empty: $QWENVL_KERNEL_CACHE, else $XDG_CACHE_HOME/qwenvl/kernels.json, else
  // ~/.cache/qwenvl/kernels.json. "none": neither read nor written.
  std::string cache_path;
};

// The decisions of one backend. Decide() runs on the backend's pool; Get() is cheap and
// thread-safe once the format is decided.
class KernelChoice {
 public:
  KernelChoice(ThreadPool& pool, KernelChoiceOptions options);

  // Decides both size classes of `format` if not yet done (forced, cached or measured).
  void Decide(WeightFormat format);
  // The kernel for m rows of x on weights of `format`; decides the format first if needed.
  kernels::MatMulKernel Get(WeightFormat format, int64_t m);
  // Every decision made so far, in format order.
  std::vector<KernelDecision> decisions() const;
  // The cache file used ("" when none), and why it could not be read or written ("" when fine).
  const std::string& cache_path() const { return cache_path_; }
  std::string cache_problem() const;

 private:
  ThreadPool& pool_;
  KernelSpec spec_;
  std::string cache_path_;
  mutable std::mutex mu_;
  std::map<WeightFormat, std::array<KernelDecision, 2>> decided_;
  std::string cache_problem_;
};

}  // namespace qwenvl::compute
