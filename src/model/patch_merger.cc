#include "model/patch_merger.h"

#include "util/error.h"

namespace qwenvl::model {

PatchMerger::PatchMerger(compute::Backend& b, const io::TensorStore& store,
                         const io::VisionConfig& c, const BindOptions& o)
    : backend_(&b), hidden_(c.hidden_size), merged_dim_(c.merged_dim()), eps_(c.rms_norm_eps) {
  const io::PatchMergerTensors t = io::PatchMergerTensors::Of(c);
  ln_q_ = LoadVector(b, store, t.ln_q);
  mlp0_ = BindLinear(b, store, t.mlp0, o);
  mlp2_ = BindLinear(b, store, t.mlp2, o);
}

void PatchMerger::Forward(const compute::Tensor& x, std::span<const int64_t> window_index,
                          const MergerScratch& s, const compute::Tensor& out) const {
  compute::Backend& b = *backend_;
  const auto tokens = static_cast<int64_t>(window_index.size());
  const int64_t patches = tokens * (merged_dim_ / hidden_);
  QWENVL_CHECK(x.rows() == patches && s.normed.rows() >= patches && s.hidden.rows() >= tokens &&
               s.output.rows() >= tokens && out.rows() == tokens);
  const compute::Tensor normed = s.normed.Rows(0, patches);
  const compute::Tensor hidden = s.hidden.Rows(0, tokens), output = s.output.Rows(0, tokens);
  b.RmsNorm(x, ln_q_, eps_, normed);
  // The normed patches of one merged token are consecutive rows (window order keeps them
  // together), so [patches, hidden] read as [tokens, merged_dim] is the concatenation of §3.6.
  b.MatMul(normed.Reshape(tokens, merged_dim_), mlp0_, hidden);
  b.Gelu(hidden);
  b.MatMul(hidden, mlp2_, output);
  b.ScatterRows(output, window_index, out);
}

}  // namespace qwenvl::model
