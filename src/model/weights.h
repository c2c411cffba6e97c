// Binding checkpoint tensors to the model: large matrices stay in the mapping in their stored type
// (a WeightView, converted inside the kernels) or, when a part of the model is asked for q8/q4, are
// quantized once at load into a copy the layer owns. Small vectors (norm weights, biases) are
// converted to float32 once at load.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "kernels/dtype.h"
#include "util/thread_pool.h"

namespace qwenvl::model {

// Precision of a model part's big matrices. kStored reads the checkpoint's bytes as stored.
enum class Precision { kStored, kQ8, kQ4 };
const char* PrecisionName(Precision p);  // "stored", "q8", "q4"

// How BindLinear binds a matrix. pool runs the quantization (a temporary pool is made when null).
// resident: stored-precision matrices are copied (unchanged) into anonymous memory and their file
// pages released, instead of being read through the file mapping. Decode streams every matrix
// once per token, and anonymous pages stream faster than page-cache pages (measured on the 3B
// decoder: see README); loading then reads the file once.
// release_block_bytes: a matrix read from the file mapping to be quantized or copied is processed
// in row blocks of about this many stored bytes, each block's file pages released once done, so
// that loading never holds a whole stored matrix (the 3B's tied head: 622 MB) beside its copy.
struct BindOptions {
  Precision precision = Precision::kStored;
  ThreadPool* pool = nullptr;
  bool resident = false;
  int64_t release_block_bytes = int64_t{64} << 20;
};

// A linear layer y = x · Wᵀ + b (PyTorch layout W [out, in]).
struct Linear {
  kernels::WeightView weight;  // [out, in]: into the mapping, or into `quantized`
  std::vector<float> bias;     // [out], empty when the layer has no bias
  // The quantized copy `weight` points into (null for stored weights). Shared so that copies of
  // the layer keep the view valid.
  std::shared_ptr<const kernels::QuantizedMatrix> quantized;
  // The resident copy `weight` points into (BindOptions::resident), null otherwise.
  std::shared_ptr<const void> resident;
  // True when `weight` no longer points into the file mapping.
  bool owned() const { return quantized != nullptr || resident != nullptr; }
  int64_t out_features() const { return weight.rows; }
  int64_t in_features() const { return weight.cols; }
};

kernels::WeightView ViewOf(
    const io::TensorInfo& t);  // 2-D view; N-D tensors flattened to [d0, rest]

// Bytes a kernel reads to use the whole matrix once (stored element size, or the quantized layout
// with its scales).
int64_t WeightBytes(const kernels::WeightView& w);

// A layer over `w` at the requested precision: w itself for kStored, else an owned quantized copy
// (or resident copy). from_mapping: w points into a read-only file mapping, whose pages may then be
// released block by block as the copy is made (BindOptions::release_block_bytes).
Linear MakeLinear(const kernels::WeightView& w, const BindOptions& options,
                  bool from_mapping = false);

// Drops the pages wholly inside w's bytes from this process's resident memory. w must point into
// a read-only file mapping (the tensor store): a later access re-reads them from the page cache.
// Used once a matrix has been quantized, so that loading q8/q4 does not keep the stored copy too.
void ReleaseMappedPages(const kernels::WeightView& w);

// Binds NAME.weight (and NAME.bias when with_bias) from the store; a quantized layer releases the
// stored matrix's pages (ReleaseMappedPages).
enum class Bias { kNone, kPresent };
Linear BindLinear(const io::TensorStore& store, const std::string& name, Bias bias,
                  const BindOptions& options = {});

// A 1-D tensor converted to float32.
std::vector<float> LoadVector(const io::TensorStore& store, const std::string& name);

// y[m, out] = x[m, in] · Wᵀ + b
void ApplyLinear(const Linear& layer, const float* x, int64_t m, float* y, ThreadPool& pool);

}  // namespace qwenvl::model
