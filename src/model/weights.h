// Binding checkpoint tensors to the model, named by the checkpoint table (io/checkpoint_layout.h):
// each matrix is uploaded to the compute backend (which decides where it lives: read in place from
// the file mapping, copied, or quantized at load), and each small vector (norm weights, biases)
// converted to float32 once.
#pragma once

#include <cstdint>

#include "compute/backend.h"
#include "io/checkpoint_layout.h"
#include "io/safetensors.h"

namespace qwenvl::model {

// How the big matrices of one model part are uploaded (precision, resident copies).
using BindOptions = compute::WeightUpload;

// The checkpoint tensor as a 2-D host matrix (N-D tensors flattened to [d0, rest]), marked as
// lying in the file mapping. Throws Error(kUnsupported) for dtypes the kernels cannot read.
compute::HostMatrix MatrixOf(const io::TensorInfo& t);

// Binds a linear layer's weight, and its bias where the table states one, from the store. Each
// tensor's shape is checked against the table (io::GetExpected).
compute::Weight BindLinear(compute::Backend& backend, const io::TensorStore& store,
                           const io::LinearTensors& linear, const BindOptions& options = {});

// A 1-D tensor converted to float32, as a [1, n] buffer; its shape checked against the table.
compute::Buffer LoadVector(compute::Backend& backend, const io::TensorStore& store,
                           const io::ExpectedTensor& vector);

}  // namespace qwenvl::model
