#include "model/weights.h"

#include "kernels/ops.h"
#include "util/error.h"

namespace qwenvl::model {

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

Linear BindLinear(const io::TensorStore& store, const std::string& name, Bias bias) {
  Linear l;
  l.weight = ViewOf(store.Get(name + ".weight"));
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
