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
// memcpy split over the pool in 1 MiB pieces: the page faults of the fresh pages dominate.
void CopyParallel(void* dst, const void* src, size_t bytes, ThreadPool* pool) {
  constexpr size_t kPiece = size_t{1} << 20;
  const auto pieces = static_cast<int64_t>((bytes + kPiece - 1) / kPiece);
  auto copy = [&](int64_t i, int) {
    const size_t off = static_cast<size_t>(i) * kPiece;
    std::memcpy(static_cast<char*>(dst) + off, static_cast<const char*>(src) + off,
                std::min(kPiece, bytes - off));
  };
  if (pool == nullptr) {
    for (int64_t i = 0; i < pieces; ++i) copy(i, 0);
  } else {
    pool->Run(pieces, copy);
  }
}
}  // namespace

Linear MakeLinear(const kernels::WeightView& w, const BindOptions& options) {
  Linear l;
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
      CopyParallel(p, w.data, bytes, options.pool);
      l.resident = std::shared_ptr<const void>(
          p, [bytes](const void* q) { ::munmap(const_cast<void*>(q), bytes); });
      l.weight.data = p;
    }
    return l;
  }

  const kernels::WeightType to =
      options.precision == Precision::kQ8 ? kernels::WeightType::kQ8 : kernels::WeightType::kQ4;
  std::optional<ThreadPool> own_pool;
  ThreadPool* pool = options.pool;
  if (pool == nullptr) pool = &own_pool.emplace();
  auto q = std::make_shared<const kernels::QuantizedMatrix>(kernels::Quantize(w, to, *pool));
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
  Linear l = MakeLinear(stored, options);
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
