// The CPU backend: the Highway kernels of src/kernels (dispatched to the best SIMD target of the
// CPU it runs on) over a thread pool. How each operation is split over the threads is decided
// here and nowhere else.
#pragma once

#include <cstdint>

#include "compute/host_backend.h"
#include "compute/kernel_choice.h"
#include "util/thread_pool.h"

namespace qwenvl::compute {

// How attention segments are spread over the threads. kAuto picks kSegments when there are many
// (the vision encoder's windows) and kQueries when there are few (frames, a prefill); the others
// exist for benchmarks and tests.
enum class SegmentSchedule {
  kAuto,
  kSegments,  // whole segments per thread, each kernel call running on its thread alone
  kQueries,   // one kernel call per segment, spreading heads × queries over the pool
};

class CpuBackend : public HostBackend {
 public:
  // pool must outlive the backend; every operation runs on it (one caller at a time). The MatMul
  // kernels are chosen per weight format as weights are uploaded (kernel_choice.h).
  explicit CpuBackend(ThreadPool& pool, KernelChoiceOptions kernels = {})
      : HostBackend(pool), kernel_choice_(pool, std::move(kernels)) {}

  std::string_view name() const override { return "cpu"; }
  int threads() const { return pool().size(); }
  void set_segment_schedule(SegmentSchedule s) { schedule_ = s; }
  const KernelChoice& kernel_choice() const { return kernel_choice_; }

  Weight UploadWeight(const HostMatrix& w, const HostMatrix& bias,
                      const WeightUpload& how) override;
  void MatMul(const Tensor& x, const Weight& w, const Tensor& y) override;
  void MatMuls(const Tensor& x, std::span<const Product> products) override;
  void RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& y) override;
  void Rotary(const RotarySpec& spec) override;
  void Attention(const AttentionSpec& spec) override;
  void SiluMul(const Tensor& gate, const Tensor& up) override;
  void Gelu(const Tensor& x) override;
  void Add(const Tensor& x, const Tensor& y) override;

 private:
  // Calls fn(begin, end) over row ranges of a rows × cols elementwise job: inline when the job is
  // too small to repay waking the threads, else split over the pool.
  template <class Fn>
  void ForRows(int64_t rows, int64_t cols, Fn&& fn);

  SegmentSchedule schedule_ = SegmentSchedule::kAuto;
  KernelChoice kernel_choice_;
  ThreadPool inline_pool_{1};  // starts no thread: runs kernels inline on any caller
};

}  // namespace qwenvl::compute
