// Binding checkpoint tensors to the model: each matrix is uploaded to the compute backend (which
// decides where it lives: read in place from the file mapping, copied, or quantized at load), and
// each small vector (norm weights, biases) converted to float32 once.
#pragma once

#include <cstdint>
#include <string>

#include "compute/backend.h"
#include "io/safetensors.h"

namespace qwenvl::model {

// How the big matrices of one model part are uploaded (precision, resident copies).
using BindOptions = compute::WeightUpload;

// The checkpoint tensor as a 2-D host matrix (N-D tensors flattened to [d0, rest]), marked as
// lying in the file mapping. Throws Error(kUnsupported) for dtypes the kernels cannot read.
compute::HostMatrix MatrixOf(const io::TensorInfo& t);

// Binds NAME.weight (and NAME.bias with Bias::kPresent) from the store.
enum class Bias { kNone, kPresent };
compute::Weight BindLinear(compute::Backend& backend, const io::TensorStore& store,
                           const std::string& name, Bias bias, const BindOptions& options = {});

// A 1-D tensor converted to float32, as a [1, n] buffer.
compute::Buffer LoadVector(compute::Backend& backend, const io::TensorStore& store,
                           const std::string& name);

}  // namespace qwenvl::model
