// The tiny and small test checkpoints (fixtures README: byte-identical to the fixture checkpoints),
// written by the generator once per test process and opened as Models on first use.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "compute/cpu_backend.h"
#include "compute/reference_backend.h"
#include "io/test_checkpoint.h"
#include "model/qwen2_5_vl.h"
#include "util/thread_pool.h"

namespace qwenvl::model::testing {

// The CPU backend (two threads) the tests' models run on, one per process, with the float32
// MatMul kernels: the fixtures are transformers' float32 outputs, and the tolerances theirs.
inline ThreadPool& TestPool() {
  static ThreadPool pool(2);
  return pool;
}
inline compute::CpuBackend& TestBackend() {
  static compute::CpuBackend backend(TestPool(), {.spec = "f32", .cache_path = "none"});
  return backend;
}
// The kernel that rounds x to bf16 and runs fastest here (amx-bf16, else bf16-dot), or nothing
// when this CPU runs neither.
inline std::optional<kernels::MatMulKernel> RoundingKernel() {
  for (kernels::MatMulKernel k :
       {kernels::MatMulKernel::kAmxBf16, kernels::MatMulKernel::kBf16Dot}) {
    if (kernels::MatMulKernelRuns(k)) return k;
  }
  return std::nullopt;
}
// The CPU backend with RoundingKernel() for every MatMul (requires one).
inline compute::CpuBackend& TestRoundingBackend() {
  static compute::CpuBackend backend(
      TestPool(), {.spec = std::string(kernels::MatMulKernelName(RoundingKernel().value())),
                   .cache_path = "none"});
  return backend;
}
// The reference backend (scalar kernels, one thread), for running whole models on both.
inline compute::ReferenceBackend& TestReferenceBackend() {
  static compute::ReferenceBackend backend(TestPool());
  return backend;
}

class TestModels {
 public:
  // The preset's model on the CPU backend, with backend "reference" on the reference one, with
  // "cpu-bf16" on TestRoundingBackend().
  static const Model& Get(const std::string& preset, const std::string& backend = "cpu") {
    static TestModels instance;
    const std::string key = preset + "/" + backend;
    auto it = instance.models_.find(key);
    if (it == instance.models_.end()) {
      const std::filesystem::path dir = instance.root_ / preset;
      if (!std::filesystem::exists(dir / "config.json")) {
        io::WriteTestModel(io::GetTestModelPreset(preset), dir.string(),
                           QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct");
      }
      compute::Backend& b =
          backend == "reference"  ? static_cast<compute::Backend&>(TestReferenceBackend())
          : backend == "cpu-bf16" ? static_cast<compute::Backend&>(TestRoundingBackend())
                                  : TestBackend();
      it = instance.models_.emplace(key, std::make_unique<Model>(dir.string(), b)).first;
    }
    return *it->second;
  }

 private:
  // The backends are made first so that they are destroyed after the models they hold.
  TestModels()
      : backend_(TestBackend()),
        reference_(TestReferenceBackend()),
        rounding_(RoundingKernel() ? &TestRoundingBackend() : nullptr),
        root_(std::filesystem::temp_directory_path() /
              ("qwenvl_decoder_models_" + std::to_string(::getpid()))) {}
  ~TestModels() {
    models_.clear();  // unmap before deleting the files
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }

  compute::Backend& backend_;
  compute::Backend& reference_;
  compute::Backend* rounding_;  // made here too: the statics go in reverse order of making
  std::filesystem::path root_;
  std::map<std::string, std::unique_ptr<Model>> models_;
};

inline const std::string kCaseDir = QWENVL_TEST_DATA "/model";

}  // namespace qwenvl::model::testing
