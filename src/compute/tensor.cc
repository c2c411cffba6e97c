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

void Backend::MatMuls(const Tensor& x, std::span<const Product> products) {
  QWENVL_CHECK(std::ssize(products) <= kMaxProducts);
  for (const Product& p : products) MatMul(x, *p.w, p.y);
}

Buffer Backend::Allocate(int64_t rows, int64_t cols) {
  QWENVL_CHECK(rows >= 0 && cols >= 0);
  float* data = rows * cols == 0 ? nullptr : AllocateFloats(rows * cols);
  return Buffer(data == nullptr ? nullptr : this, TensorAccess::Make(data, rows, cols, cols));
}

int64_t WeightViewBytes(const kernels::WeightView& w) {
  return w.rows * WeightRowBytes(w.type, w.cols);
}

int64_t Weight::bytes() const { return WeightViewBytes(view_); }

}  // namespace qwenvl::compute
