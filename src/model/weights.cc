#include "model/weights.h"

#include <optional>

#include "util/error.h"

namespace qwenvl::model {

compute::HostMatrix MatrixOf(const io::TensorInfo& t) {
  kernels::WeightView v;
  v.data = t.data;
  const std::optional<WeightFormat> format = io::WeightFormatOf(t.dtype);
  if (!format) {
    throw Error(ErrorCode::kUnsupported,
                "tensor " + t.name + ": dtype " + io::DTypeName(t.dtype) + " cannot be used");
  }
  v.type = *format;
  v.rows = t.shape.empty() ? 1 : t.shape[0];
  v.cols = v.rows == 0 ? 0 : t.numel() / v.rows;
  return compute::HostMatrix{.view = v, .file_mapped = true, .name = t.name};
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
