#include "compute/tensor.h"

#include "compute/backend.h"

namespace qwenvl::compute {

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    Reset();
    owner_ = other.owner_;
    tensor_ = other.tensor_;
    other.owner_ = nullptr;
    other.tensor_ = Tensor();
  }
  return *this;
}

void Buffer::Reset() {
  if (owner_ != nullptr) owner_->FreeFloats(TensorAccess::Data(tensor_));
  owner_ = nullptr;
  tensor_ = Tensor();
}

Buffer Backend::Allocate(int64_t rows, int64_t cols) {
  QWENVL_CHECK(rows >= 0 && cols >= 0);
  float* data = rows * cols == 0 ? nullptr : AllocateFloats(rows * cols);
  return Buffer(data == nullptr ? nullptr : this, TensorAccess::Make(data, rows, cols, cols));
}

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

int64_t WeightViewBytes(const kernels::WeightView& w) {
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

int64_t Weight::bytes() const { return WeightViewBytes(view_); }

}  // namespace qwenvl::compute
