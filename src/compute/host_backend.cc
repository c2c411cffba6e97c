#include "compute/host_backend.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "compute/weight_cache.h"
#include "kernels/ops.h"
#include "util/error.h"
#include "util/pages.h"

namespace qwenvl::compute {
namespace {

using kernels::WeightView;

// Alignment of activation buffers: one cache line, the widest vector the kernels load.
constexpr std::align_val_t kAlignment{64};

// Copies rows of src to dst (same shape), row by row when either is strided.
void CopyRows(const Tensor& src, const Tensor& dst) {
  if (src.empty()) return;  // no addresses to touch (an empty tensor may have none)
  const float* s = TensorAccess::Data(src);
  float* d = TensorAccess::Data(dst);
  if (src.contiguous() && dst.contiguous()) {
    std::memmove(d, s, static_cast<size_t>(src.size()) * sizeof(float));
    return;
  }
  for (int64_t r = 0; r < src.rows(); ++r)
    std::memmove(d + r * dst.stride(), s + r * src.stride(),
                 static_cast<size_t>(src.cols()) * sizeof(float));
}

// Calls fn(r0, block) for consecutive row blocks of a stored (not quantized) matrix, each about
// block_bytes of stored bytes; for a file-mapped matrix, each block's pages are released after fn.
template <class Fn>
void ForEachRowBlock(const HostMatrix& m, int64_t block_bytes, Fn&& fn) {
  const WeightView& w = m.view;
  const int64_t row_bytes = WeightViewBytes(w) / std::max<int64_t>(1, w.rows);
  const int64_t block_rows = std::max<int64_t>(1, block_bytes / std::max<int64_t>(1, row_bytes));
  for (int64_t r0 = 0; r0 < w.rows; r0 += block_rows) {
    const WeightView block{static_cast<const uint8_t*>(w.data) + r0 * row_bytes, w.type,
                           std::min(block_rows, w.rows - r0), w.cols};
    fn(r0, block);
    if (m.file_mapped) ReleaseFilePages(block.data, static_cast<size_t>(WeightViewBytes(block)));
  }
}

// out[0, bytes) = in[0, bytes) over the pool: the page faults of the fresh pages dominate, so the
// copy is split in 1 MiB pieces over the threads.
void CopyOverPool(char* out, const char* in, size_t bytes, ThreadPool& pool) {
  constexpr size_t kPiece = size_t{1} << 20;
  const auto pieces = static_cast<int64_t>((bytes + kPiece - 1) / kPiece);
  pool.Run(pieces, [&](int64_t i, int) {
    const size_t off = static_cast<size_t>(i) * kPiece;
    std::memcpy(out + off, in + off, std::min(kPiece, bytes - off));
  });
}

// A copy of a matrix of any layout (stored, or quantized from the weight cache) in fresh pages,
// block_bytes at a time; a file-mapped source has each block's pages released once copied, and
// the partial pages between blocks at the end: loading never holds the matrix twice.
std::shared_ptr<void> CopyToPages(const WeightView& w, bool file_mapped, int64_t block_bytes,
                                  ThreadPool& pool) {
  const auto bytes = static_cast<size_t>(WeightViewBytes(w));
  std::shared_ptr<void> pages = AllocatePages(bytes);
  const auto block = static_cast<size_t>(std::max<int64_t>(block_bytes, 1));
  const auto* in = static_cast<const char*>(w.data);
  for (size_t off = 0; off < bytes; off += block) {
    const size_t n = std::min(block, bytes - off);
    CopyOverPool(static_cast<char*>(pages.get()) + off, in + off, n, pool);
    if (file_mapped) ReleaseFilePages(in + off, n);
  }
  if (file_mapped) ReleaseFilePages(in, bytes);
  return pages;
}

// Quantizes m block by block (rows are independent) into one matrix.
kernels::QuantizedMatrix QuantizeInBlocks(const HostMatrix& m, WeightFormat to, int64_t block_bytes,
                                          ThreadPool& pool) {
  if (!m.file_mapped) return kernels::Quantize(m.view, to, pool);
  const WeightView& w = m.view;
  kernels::QuantizedMatrix out(to, w.rows, w.cols);
  const kernels::QuantLayout l = kernels::QuantLayoutOf(to, w.rows, w.cols);
  ForEachRowBlock(m, block_bytes, [&](int64_t r0, const WeightView& block) {
    kernels::QuantizedMatrix part = kernels::Quantize(block, to, pool);
    const kernels::QuantLayout pl = kernels::QuantLayoutOf(to, block.rows, w.cols);
    std::memcpy(out.data() + r0 * l.row_bytes, part.data(),
                static_cast<size_t>(block.rows * l.row_bytes));
    std::memcpy(out.data() + l.scales_offset + r0 * l.blocks * kernels::kQuantScaleBytes,
                part.data() + pl.scales_offset,
                static_cast<size_t>(block.rows * l.blocks * kernels::kQuantScaleBytes));
  });
  return out;
}

std::vector<float> ConvertAll(const WeightView& v) {
  std::vector<float> out(static_cast<size_t>(v.rows * v.cols));
  kernels::ConvertRow(v.data, v.type, v.rows * v.cols, out.data());
  return out;
}

// What an owned weight keeps alive: its matrix (quantized or resident copy) and its bias.
struct WeightStorage {
  std::shared_ptr<const void> matrix;
  std::vector<float> bias;
};

}  // namespace

kernels::AttentionArgs HostBackend::KernelArgs(const AttentionSpec& spec,
                                               const AttentionSegment& s) {
  return kernels::AttentionArgs{
      .q = TensorAccess::Data(s.q),
      .q_stride = s.q.stride(),
      .k = TensorAccess::Data(s.k),
      .k_stride = s.k.stride(),
      .v = TensorAccess::Data(s.v),
      .v_stride = s.v.stride(),
      .out = TensorAccess::Data(s.out),
      .out_stride = s.out.stride(),
      .q_len = s.q.rows(),
      .kv_len = s.k.rows(),
      .num_heads = spec.num_heads,
      .num_kv_heads = spec.num_kv_heads,
      .head_dim = spec.head_dim,
      .scale = spec.scale,
      .causal = spec.causal,
      .q_offset = s.q_offset,
      .kv_type = spec.kv_type,
  };
}

void HostBackend::CheckSameShape(const Tensor& a, const Tensor& b) {
  QWENVL_CHECK(a.rows() == b.rows() && a.cols() == b.cols() && a.contiguous() && b.contiguous());
}

// Large activations (a vision tower's qkv and MLP buffers: hundreds of MB per picture) are
// mapped with huge pages asked for, not taken from the heap: the heap maps them in 4 KiB pages
// anew at every call, and the first touch of each fresh page is a fault. On a VM measured here
// that first touch ran at 0.38 GB/s in 4 KiB pages and 12 GB/s in huge pages.
// Under AddressSanitizer every buffer stays on the heap, where overruns and leaks are caught.
#if defined(__SANITIZE_ADDRESS__)
constexpr size_t kMappedBytes = SIZE_MAX;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr size_t kMappedBytes = SIZE_MAX;
#else
constexpr size_t kMappedBytes = size_t{2} << 20;
#endif
#else
constexpr size_t kMappedBytes = size_t{2} << 20;
#endif

float* HostBackend::AllocateFloats(int64_t n) {
  const size_t bytes = static_cast<size_t>(n) * sizeof(float);
  if (bytes >= kMappedBytes) {
    auto* p = static_cast<float*>(MapPages(bytes));  // zeroed by the kernel
    try {
      std::lock_guard lock(mapped_mutex_);
      mapped_.emplace(p, bytes);
    } catch (...) {
      UnmapPages(p, bytes);
      throw;
    }
    return p;
  }
  auto* p = static_cast<float*>(::operator new(bytes, kAlignment));
  std::memset(p, 0, bytes);
  return p;
}

void HostBackend::FreeFloats(float* data) {
  {
    std::lock_guard lock(mapped_mutex_);
    if (const auto it = mapped_.find(data); it != mapped_.end()) {
      UnmapPages(data, it->second);
      mapped_.erase(it);
      return;
    }
  }
  ::operator delete(data, kAlignment);
}

void HostBackend::Upload(std::span<const float> src, const Tensor& dst) {
  QWENVL_CHECK(static_cast<int64_t>(src.size()) == dst.size());
  CopyRows(TensorAccess::Make(const_cast<float*>(src.data()), dst.rows(), dst.cols(), dst.cols()),
           dst);
}

void HostBackend::Download(const Tensor& src, std::span<float> dst) {
  QWENVL_CHECK(static_cast<int64_t>(dst.size()) == src.size());
  CopyRows(src, TensorAccess::Make(dst.data(), src.rows(), src.cols(), src.cols()));
}

void HostBackend::Copy(const Tensor& src, const Tensor& dst) {
  QWENVL_CHECK(src.rows() == dst.rows() && src.cols() == dst.cols());
  CopyRows(src, dst);
}

void HostBackend::StoreKv(const Tensor& src, KvType type, int64_t num_kv_heads, int64_t head_dim,
                          const Tensor& dst) {
  QWENVL_CHECK(src.rows() == dst.rows() && src.cols() == num_kv_heads * head_dim &&
               dst.cols() == KvRowFloats(type, num_kv_heads, head_dim));
  if (src.empty()) return;
  kernels::StoreKvRows(TensorAccess::Data(src), src.stride(), src.rows(), type, num_kv_heads,
                       head_dim, TensorAccess::Data(dst), dst.stride());
}

Weight HostBackend::UploadWeight(const HostMatrix& m, const HostMatrix& bias,
                                 const WeightUpload& how) {
  auto storage = std::make_shared<WeightStorage>();
  if (bias.view.data != nullptr) {
    QWENVL_CHECK(bias.view.rows * bias.view.cols == m.view.rows);
    storage->bias = ConvertAll(bias.view);
  }
  const float* bias_data = storage->bias.empty() ? nullptr : storage->bias.data();
  WeightView view = m.view;
  bool owned = false;
  const std::optional<WeightFormat> quantize_to = TraitsOf(how.precision).quantize_to;
  if (!quantize_to) {
    if (how.resident) {
      std::shared_ptr<void> pages =
          CopyToPages(m.view, m.file_mapped, how.release_block_bytes, pool_);
      view.data = pages.get();
      storage->matrix = std::move(pages);
      owned = true;
    }
  } else {
    std::optional<WeightCache::Found> cached;
    if (how.cache != nullptr)
      cached = how.cache->Find(m.name, *quantize_to, m.view.rows, m.view.cols);
    if (cached && how.resident) {
      // The verified copy from the cache file, copied into the backend's own pages: the cache
      // file's page-cache pages are mostly mapped 4 KiB at a time, and decode, which streams
      // every weight once per token, read them at about 4/5 of the rate it reads huge pages at
      // (the TLB misses of its row prefetches). The checkpoint's pages are never touched.
      std::shared_ptr<void> pages =
          CopyToPages(cached->view, /*file_mapped=*/true, how.release_block_bytes, pool_);
      view = cached->view;
      view.data = pages.get();
      storage->matrix = std::move(pages);
    } else if (cached) {
      // Read where it lies in the cache file (the weights mapped, not resident).
      view = cached->view;
      storage->matrix = std::move(cached->owner);
    } else {
      auto q = std::make_shared<const kernels::QuantizedMatrix>(
          QuantizeInBlocks(m, *quantize_to, how.release_block_bytes, pool_));
      view = q->view();
      if (how.cache != nullptr) how.cache->Keep(m.name, view, q);
      storage->matrix = std::move(q);
    }
    owned = true;
  }
  // An owned copy no longer needs the file's pages (the row blocks went already; this catches
  // the partial pages at the ends).
  if (owned && m.file_mapped)
    ReleaseFilePages(m.view.data, static_cast<size_t>(WeightViewBytes(m.view)));
  return TensorAccess::MakeWeight(view, bias_data, owned, std::move(storage));
}

Buffer HostBackend::UploadConverted(const HostMatrix& m) {
  Buffer out = Allocate(m.view.rows, m.view.cols);
  if (out.size() == 0) return out;
  kernels::ConvertRow(m.view.data, m.view.type, m.view.rows * m.view.cols, TensorAccess::Data(out));
  return out;
}

void HostBackend::EmbedRows(const Weight& table, std::span<const TokenId> ids, const Tensor& out) {
  const WeightView& w = TensorAccess::View(table);
  QWENVL_CHECK(out.rows() == static_cast<int64_t>(ids.size()) && out.cols() == w.cols);
  float* dst = TensorAccess::Data(out);
  for (size_t i = 0; i < ids.size(); ++i) {
    QWENVL_CHECK(ids[i] >= 0 && ids[i] < w.rows);
    kernels::ConvertWeightRow(w, ids[i], dst + static_cast<int64_t>(i) * out.stride());
  }
}

void HostBackend::GatherRows(const Tensor& src, std::span<const int64_t> index, const Tensor& dst) {
  QWENVL_CHECK(dst.rows() == static_cast<int64_t>(index.size()) && dst.cols() == src.cols());
  const float* s = TensorAccess::Data(src);
  float* d = TensorAccess::Data(dst);
  for (size_t i = 0; i < index.size(); ++i) {
    QWENVL_CHECK(index[i] >= 0 && index[i] < src.rows());
    std::memcpy(d + static_cast<int64_t>(i) * dst.stride(), s + index[i] * src.stride(),
                static_cast<size_t>(src.cols()) * sizeof(float));
  }
}

void HostBackend::ScatterRows(const Tensor& src, std::span<const int64_t> index,
                              const Tensor& dst) {
  QWENVL_CHECK(src.rows() == static_cast<int64_t>(index.size()) && dst.cols() == src.cols());
  const float* s = TensorAccess::Data(src);
  float* d = TensorAccess::Data(dst);
  for (size_t i = 0; i < index.size(); ++i) {
    QWENVL_CHECK(index[i] >= 0 && index[i] < dst.rows());
    std::memcpy(d + index[i] * dst.stride(), s + static_cast<int64_t>(i) * src.stride(),
                static_cast<size_t>(src.cols()) * sizeof(float));
  }
}

}  // namespace qwenvl::compute
