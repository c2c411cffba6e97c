#include "model/weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "kernels/ops.h"
#include "util/error.h"

namespace qwenvl::model {

const char* PrecisionName(Precision p) {
  switch (p) {
    case Precision::kStored:
      return "stored";
    case Precision::kQ8:
      return "q8";
    case Precision::kQ4:
      return "q4";
  }
  return "unknown";
}

kernels::WeightView ViewOf(const io::TensorInfo& t) {
  kernels::WeightView v;
  v.data = t.data;
  switch (t.dtype) {
    case io::DType::kF32:
      v.type = kernels::WeightType::kF32;
      break;
    case io::DType::kBF16:
      v.type = kernels::WeightType::kBF16;
      break;
    case io::DType::kF16:
      v.type = kernels::WeightType::kF16;
      break;
    default:
      throw Error(ErrorCode::kUnsupported,
                  "tensor " + t.name + ": dtype " + io::DTypeName(t.dtype) + " cannot be used");
  }
  v.rows = t.shape.empty() ? 1 : t.shape[0];
  v.cols = v.rows == 0 ? 0 : t.numel() / v.rows;
  return v;
}

int64_t WeightBytes(const kernels::WeightView& w) {
  switch (w.type) {
    case kernels::WeightType::kF32:
      return w.rows * w.cols * 4;
    case kernels::WeightType::kBF16:
    case kernels::WeightType::kF16:
      return w.rows * w.cols * 2;
    case kernels::WeightType::kQ8:
    case kernels::WeightType::kQ4:
      return kernels::QuantLayoutOf(w.type, w.rows, w.cols).total_bytes;
  }
  return 0;
}

namespace {

// Calls fn(r0, block) for consecutive row blocks of a stored (not quantized) matrix, each about
// block_bytes of stored bytes; with from_mapping, each block's file pages are released after fn.
template <class Fn>
void ForEachRowBlock(const kernels::WeightView& w, int64_t block_bytes, bool from_mapping,
                     Fn&& fn) {
  const int64_t row_bytes = WeightBytes(w) / std::max<int64_t>(1, w.rows);
  const int64_t block_rows = std::max<int64_t>(1, block_bytes / std::max<int64_t>(1, row_bytes));
  for (int64_t r0 = 0; r0 < w.rows; r0 += block_rows) {
    const kernels::WeightView block{static_cast<const uint8_t*>(w.data) + r0 * row_bytes, w.type,
                                    std::min(block_rows, w.rows - r0), w.cols};
    fn(r0, block);
    if (from_mapping) ReleaseMappedPages(block);
  }
}

// dst = w's bytes, copied over the pool block by block (the page faults of the fresh pages
// dominate, so each block is split in 1 MiB pieces over the threads).
void CopyInBlocks(void* dst, const kernels::WeightView& w, int64_t block_bytes, bool from_mapping,
                  ThreadPool& pool) {
  ForEachRowBlock(w, block_bytes, from_mapping, [&](int64_t r0, const kernels::WeightView& block) {
    const auto bytes = static_cast<size_t>(WeightBytes(block));
    constexpr size_t kPiece = size_t{1} << 20;
    const auto pieces = static_cast<int64_t>((bytes + kPiece - 1) / kPiece);
    char* out = static_cast<char*>(dst) + static_cast<size_t>(WeightBytes(w) / w.rows * r0);
    const auto* in = static_cast<const char*>(block.data);
    pool.Run(pieces, [&](int64_t i, int) {
      const size_t off = static_cast<size_t>(i) * kPiece;
      std::memcpy(out + off, in + off, std::min(kPiece, bytes - off));
    });
  });
}

// Quantizes w block by block (rows are independent) into one matrix.
kernels::QuantizedMatrix QuantizeInBlocks(const kernels::WeightView& w, kernels::WeightType to,
                                          int64_t block_bytes, bool from_mapping,
                                          ThreadPool& pool) {
  if (!from_mapping) return kernels::Quantize(w, to, pool);
  kernels::QuantizedMatrix out(to, w.rows, w.cols);
  const kernels::QuantLayout l = kernels::QuantLayoutOf(to, w.rows, w.cols);
  ForEachRowBlock(w, block_bytes, from_mapping, [&](int64_t r0, const kernels::WeightView& block) {
    kernels::QuantizedMatrix part = kernels::Quantize(block, to, pool);
    const kernels::QuantLayout pl = kernels::QuantLayoutOf(to, block.rows, w.cols);
    std::memcpy(out.data() + r0 * l.row_bytes, part.data(),
                static_cast<size_t>(block.rows * l.row_bytes));
    std::memcpy(out.data() + l.scales_offset + r0 * l.blocks * sizeof(float),
                part.data() + pl.scales_offset,
                static_cast<size_t>(block.rows * l.blocks) * sizeof(float));
  });
  return out;
}

}  // namespace

Linear MakeLinear(const kernels::WeightView& w, const BindOptions& options, bool from_mapping) {
  Linear l;
  std::optional<ThreadPool> own_pool;
  ThreadPool* pool = options.pool;
  if (pool == nullptr && (options.precision != Precision::kStored || options.resident))
    pool = &own_pool.emplace();
  if (options.precision == Precision::kStored) {
    l.weight = w;  // a view into the mapping: no copy
    if (options.resident) {
      const auto bytes = static_cast<size_t>(WeightBytes(w));
      void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) {
        throw Error(ErrorCode::kIo, "cannot allocate " + std::to_string(bytes) +
                                        " bytes for a resident weight matrix");
      }
      ::madvise(p, bytes, MADV_HUGEPAGE);  // advice only: fewer TLB misses while streaming
      CopyInBlocks(p, w, options.release_block_bytes, from_mapping, *pool);
      l.resident = std::shared_ptr<const void>(
          p, [bytes](const void* q) { ::munmap(const_cast<void*>(q), bytes); });
      l.weight.data = p;
    }
    return l;
  }

  const kernels::WeightType to =
      options.precision == Precision::kQ8 ? kernels::WeightType::kQ8 : kernels::WeightType::kQ4;
  auto q = std::make_shared<const kernels::QuantizedMatrix>(
      QuantizeInBlocks(w, to, options.release_block_bytes, from_mapping, *pool));
  l.weight = q->view();
  l.quantized = std::move(q);
  return l;
}

void ReleaseMappedPages(const kernels::WeightView& w) {
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(w.data);
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = (begin + static_cast<uintptr_t>(WeightBytes(w))) / page * page;
  // Advice only: on failure the pages simply stay resident.
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

Linear BindLinear(const io::TensorStore& store, const std::string& name, Bias bias,
                  const BindOptions& options) {
  const kernels::WeightView stored = ViewOf(store.Get(name + ".weight"));
  Linear l = MakeLinear(stored, options, /*from_mapping=*/true);
  if (l.owned()) ReleaseMappedPages(stored);
  if (bias == Bias::kPresent) l.bias = LoadVector(store, name + ".bias");
  return l;
}

std::vector<float> LoadVector(const io::TensorStore& store, const std::string& name) {
  const io::TensorInfo& t = store.Get(name);
  kernels::WeightView v = ViewOf(t);
  std::vector<float> out(static_cast<size_t>(t.numel()));
  kernels::ConvertRow(v.data, v.type, t.numel(), out.data());
  return out;
}

void ApplyLinear(const Linear& layer, const float* x, int64_t m, float* y, ThreadPool& pool) {
  kernels::MatMul(x, m, layer.weight, layer.bias.empty() ? nullptr : layer.bias.data(), y, pool);
}

}  // namespace qwenvl::model
