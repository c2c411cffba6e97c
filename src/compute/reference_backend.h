// The reference backend: the plain scalar kernels of kernels/reference.cc (sums in double), one
// thread, no SIMD. Slow and simple; a second complete backend, so that running the whole model on
// it (qwenvl replay --backend reference) proves the model computes through the interface only,
// and a yardstick for the fast kernels.
#pragma once

#include "compute/host_backend.h"

namespace qwenvl::compute {

class ReferenceBackend : public HostBackend {
 public:
  // pool is used for uploads only (quantization at load); the math runs on the calling thread.
  explicit ReferenceBackend(ThreadPool& pool) : HostBackend(pool) {}

  std::string_view name() const override { return "reference"; }

  void MatMul(const Tensor& x, const Weight& w, const Tensor& y) override;
  void RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& y) override;
  void Rotary(const RotarySpec& spec) override;
  void Attention(const AttentionSpec& spec) override;
  void SiluMul(const Tensor& gate, const Tensor& up) override;
  void Gelu(const Tensor& x) override;
  void Add(const Tensor& x, const Tensor& y) override;
};

}  // namespace qwenvl::compute
