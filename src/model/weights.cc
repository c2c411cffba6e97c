#include "model/weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <optional>

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

Linear MakeLinear(const kernels::WeightView& w, const BindOptions& options) {
  Linear l;
  if (options.precision == Precision::kStored) {
    l.weight = w;  // a view into the mapping: no copy
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
  if (l.quantized != nullptr) ReleaseMappedPages(stored);
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
