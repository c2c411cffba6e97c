// Binding checkpoint tensors to the model: large matrices stay in the mapping in their stored type
// (a WeightView, converted inside the kernels), small vectors (norm weights, biases) are converted
// to float32 once at load.
#pragma once

#include <string>
#include <vector>

#include "io/safetensors.h"
#include "kernels/dtype.h"
#include "util/thread_pool.h"

namespace qwenvl::model {

// A linear layer y = x · Wᵀ + b (PyTorch layout W [out, in]).
struct Linear {
  kernels::WeightView weight;  // [out, in]
  std::vector<float> bias;     // [out], empty when the layer has no bias
  int64_t out_features() const { return weight.rows; }
  int64_t in_features() const { return weight.cols; }
};

kernels::WeightView ViewOf(
    const io::TensorInfo& t);  // 2-D view; N-D tensors flattened to [d0, rest]

// Binds NAME.weight (and NAME.bias when with_bias) from the store.
enum class Bias { kNone, kPresent };
Linear BindLinear(const io::TensorStore& store, const std::string& name, Bias bias);

// A 1-D tensor converted to float32.
std::vector<float> LoadVector(const io::TensorStore& store, const std::string& name);

// y[m, out] = x[m, in] · Wᵀ + b
void ApplyLinear(const Linear& layer, const float* x, int64_t m, float* y, ThreadPool& pool);

}  // namespace qwenvl::model
