// The part of a backend whose memory is the host's: allocation, uploads and downloads (plain
// copies), row gathers and scatters, and the weight upload step (stored matrices read where they
// lie, resident copies, quantization at load, release of the file's pages). CpuBackend and
// ReferenceBackend share it and differ in their math.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <unordered_map>

#include "compute/backend.h"
#include "kernels/ops.h"
#include "util/thread_pool.h"

namespace qwenvl::compute {

class HostBackend : public Backend {
 public:
  // pool runs the upload work (quantization, resident copies); it must outlive the backend.
  explicit HostBackend(ThreadPool& pool) : pool_(pool) {}

  void Upload(std::span<const float> src, const Tensor& dst) override;
  void Download(const Tensor& src, std::span<float> dst) override;
  void Copy(const Tensor& src, const Tensor& dst) override;
  void StoreKv(const Tensor& src, KvType type, int64_t num_kv_heads, int64_t head_dim,
               const Tensor& dst) override;
  Weight UploadWeight(const HostMatrix& w, const HostMatrix& bias,
                      const WeightUpload& how) override;
  Buffer UploadConverted(const HostMatrix& m) override;

  void EmbedRows(const Weight& table, std::span<const TokenId> ids, const Tensor& out) override;
  void GatherRows(const Tensor& src, std::span<const int64_t> index, const Tensor& dst) override;
  void ScatterRows(const Tensor& src, std::span<const int64_t> index, const Tensor& dst) override;

 protected:
  ThreadPool& pool() const { return pool_; }
  // One segment of spec as the host kernels take it (kernels::Attention, AttentionRef).
  static kernels::AttentionArgs KernelArgs(const AttentionSpec& spec, const AttentionSegment& s);
  // a and b contiguous, of one shape (the elementwise operations).
  static void CheckSameShape(const Tensor& a, const Tensor& b);
  float* AllocateFloats(int64_t n) override;
  void FreeFloats(float* data) override;

 private:
  ThreadPool& pool_;
  // Activations of kMappedBytes or more live in pages of their own (MapPages), with their sizes.
  // Guarded: buffers may be made and freed on any thread.
  std::mutex mapped_mutex_;
  std::unordered_map<float*, size_t> mapped_;
};

}  // namespace qwenvl::compute
