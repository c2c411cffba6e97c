// What the model holds of a compute backend's memory: float32 matrices (Tensor views, owned by a
// Buffer) and uploaded weight matrices (Weight). The model shapes and slices them but never reads
// or writes their elements: every access goes through a Backend (backend.h), so that a backend's
// memory can live on another device.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "kernels/dtype.h"
#include "util/error.h"

namespace qwenvl::compute {

class Backend;
class WeightCache;
struct TensorAccess;

// A float32 matrix [rows, cols] in a backend's memory, row-major with a row stride in floats; a
// view, not an owner. Rows and Cols make sub-views with address arithmetic only, which holds for
// device addresses as well as host ones.
class Tensor {
 public:
  Tensor() = default;

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t stride() const { return stride_; }
  int64_t size() const { return rows_ * cols_; }
  bool empty() const { return size() == 0; }
  // Rows follow each other without gaps (the matrix is one run of rows · cols floats).
  bool contiguous() const { return rows_ <= 1 || stride_ == cols_; }

  // Rows [begin, begin + count).
  Tensor Rows(int64_t begin, int64_t count) const {
    QWENVL_CHECK(begin >= 0 && count >= 0 && begin + count <= rows_);
    return Tensor(data_ ? data_ + begin * stride_ : nullptr, count, cols_, stride_);
  }
  // Columns [begin, begin + count) of every row (the stride stays the parent's).
  Tensor Cols(int64_t begin, int64_t count) const {
    QWENVL_CHECK(begin >= 0 && count >= 0 && begin + count <= cols_);
    // An empty tensor (zero rows) may have no storage: no offset is applied to a null pointer.
    return Tensor(data_ ? data_ + begin : nullptr, rows_, count, stride_);
  }
  // The same floats read as [rows, cols]; only for a contiguous tensor of the same size.
  Tensor Reshape(int64_t rows, int64_t cols) const {
    QWENVL_CHECK(contiguous() && rows * cols == size());
    return Tensor(data_, rows, cols, cols);
  }
  // The first rows · cols floats of a contiguous tensor read as [rows, cols] (a scratch buffer
  // lent for another shape).
  Tensor Prefix(int64_t rows, int64_t cols) const {
    QWENVL_CHECK(contiguous() && rows >= 0 && cols >= 0 && rows * cols <= size());
    return Tensor(data_, rows, cols, cols);
  }

 private:
  friend struct TensorAccess;
  Tensor(float* data, int64_t rows, int64_t cols, int64_t stride)
      : data_(data), rows_(rows), cols_(cols), stride_(stride) {}

  float* data_ = nullptr;
  int64_t rows_ = 0;
  int64_t cols_ = 0;
  int64_t stride_ = 0;
};

// One allocation of a backend (Backend::Allocate), freed when the Buffer goes. Move-only. Converts
// to its Tensor, so that a Buffer can be passed where a Tensor is expected.
class Buffer {
 public:
  Buffer() = default;
  Buffer(Buffer&& other) noexcept { *this = std::move(other); }
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { Reset(); }

  const Tensor& tensor() const { return tensor_; }
  operator const Tensor&() const { return tensor_; }  // NOLINT: a Buffer is used as its Tensor
  int64_t rows() const { return tensor_.rows(); }
  int64_t cols() const { return tensor_.cols(); }
  int64_t size() const { return tensor_.size(); }
  Tensor Rows(int64_t begin, int64_t count) const { return tensor_.Rows(begin, count); }
  Tensor Cols(int64_t begin, int64_t count) const { return tensor_.Cols(begin, count); }
  Tensor Reshape(int64_t rows, int64_t cols) const { return tensor_.Reshape(rows, cols); }
  Tensor Prefix(int64_t rows, int64_t cols) const { return tensor_.Prefix(rows, cols); }
  void Reset();

 private:
  friend class Backend;
  Buffer(Backend* owner, Tensor tensor) : owner_(owner), tensor_(tensor) {}

  Backend* owner_ = nullptr;
  Tensor tensor_;
};

// A matrix [rows, cols] as the checkpoint holds it in host memory (kernels::WeightView plus where
// it lives). file_mapped: the bytes are pages of a read-only file mapping, which an upload that
// copies them may release as it goes.
// name: the checkpoint tensor's name (empty: none), under which a quantized copy may be cached.
struct HostMatrix {
  kernels::WeightView view;
  bool file_mapped = false;
  std::string_view name = {};
};

// How a weight matrix is uploaded. resident: a stored-precision matrix, or a quantized one found
// in the weight cache, is copied into the backend's own memory instead of being read where it
// lies in its file (for the CPU: anonymous pages with huge pages asked for, which stream faster
// in decode than page-cache pages). release_block_bytes: a file-mapped matrix that
// is copied or quantized is processed in row blocks of about this many stored bytes, each block's
// file pages released once done, so that loading never holds a whole matrix twice.
struct WeightUpload {
  WeightPrecision precision = WeightPrecision::kStored;
  bool resident = false;
  int64_t release_block_bytes = int64_t{64} << 20;
  // Where quantized copies are looked up and kept (null: quantized at every load).
  WeightCache* cache = nullptr;
};

// A weight matrix [rows, cols] (PyTorch layout [out_features, in_features]) uploaded to a backend
// (Backend::UploadWeight), with an optional float32 bias [rows]. Copies share the storage.
class Weight {
 public:
  Weight() = default;
  int64_t rows() const { return view_.rows; }
  int64_t cols() const { return view_.cols; }
  int64_t out_features() const { return view_.rows; }
  int64_t in_features() const { return view_.cols; }
  WeightFormat format() const { return view_.type; }
  bool has_bias() const { return bias_ != nullptr; }
  // True when the matrix lives in memory of its own rather than where the checkpoint's bytes lie.
  bool owned() const { return owned_; }
  // Bytes one use of the whole matrix reads (stored element size, or the quantized layout with
  // its scales).
  int64_t bytes() const;

 private:
  friend struct TensorAccess;
  kernels::WeightView view_;
  const float* bias_ = nullptr;
  bool owned_ = false;
  std::shared_ptr<const void> storage_;  // what view_ and bias_ point into, when owned
};

// Bytes of a matrix of this type and shape as a kernel reads it.
int64_t WeightViewBytes(const kernels::WeightView& w);

// The backends' way in to the memory behind Tensors and Weights. Only code under src/compute
// uses it; the model never does.
struct TensorAccess {
  static float* Data(const Tensor& t) { return t.data_; }
  static Tensor Make(float* data, int64_t rows, int64_t cols, int64_t stride) {
    return Tensor(data, rows, cols, stride);
  }
  static const kernels::WeightView& View(const Weight& w) { return w.view_; }
  static const float* Bias(const Weight& w) { return w.bias_; }
  static Weight MakeWeight(const kernels::WeightView& view, const float* bias, bool owned,
                           std::shared_ptr<const void> storage) {
    Weight w;
    w.view_ = view;
    w.bias_ = bias;
    w.owned_ = owned;
    w.storage_ = std::move(storage);
    return w;
  }
};

}  // namespace qwenvl::compute
