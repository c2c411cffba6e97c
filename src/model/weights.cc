#include "model/weights.h"

#include "util/error.h"

namespace qwenvl::model {

compute::HostMatrix MatrixOf(const io::TensorInfo& t) {
  kernels::WeightView v;
  v.data = t.data;
  switch (t.dtype) {
    case io::DType::kF32:
      v.type = WeightFormat::kF32;
      break;
    case io::DType::kBF16:
      v.type = WeightFormat::kBF16;
      break;
    case io::DType::kF16:
      v.type = WeightFormat::kF16;
      break;
    default:
      throw Error(ErrorCode::kUnsupported,
                  "tensor " + t.name + ": dtype " + io::DTypeName(t.dtype) + " cannot be used");
  }
  v.rows = t.shape.empty() ? 1 : t.shape[0];
  v.cols = v.rows == 0 ? 0 : t.numel() / v.rows;
  return compute::HostMatrix{.view = v, .file_mapped = true};
}

compute::Weight BindLinear(compute::Backend& backend, const io::TensorStore& store,
                           const io::LinearTensors& linear, const BindOptions& options) {
  const compute::HostMatrix w = MatrixOf(io::GetExpected(store, linear.weight));
  const compute::HostMatrix b =
      linear.bias ? MatrixOf(io::GetExpected(store, *linear.bias)) : compute::HostMatrix{};
  return backend.UploadWeight(w, b, options);
}

compute::Buffer LoadVector(compute::Backend& backend, const io::TensorStore& store,
                           const io::ExpectedTensor& vector) {
  compute::HostMatrix m = MatrixOf(io::GetExpected(store, vector));
  m.view.cols = m.view.rows * m.view.cols;
  m.view.rows = 1;
  return backend.UploadConverted(m);
}

}  // namespace qwenvl::model
