#include "model/patch_merger.h"

#include "kernels/ops.h"
#include "model/window_index.h"
#include "util/error.h"

namespace qwenvl::model {

PatchMerger::PatchMerger(const io::TensorStore& store, const io::VisionConfig& c,
                         const BindOptions& o)
    : hidden_(c.hidden_size), merged_dim_(c.merged_dim()), eps_(c.rms_norm_eps) {
  ln_q_ = LoadVector(store, "visual.merger.ln_q.weight");
  mlp0_ = BindLinear(store, "visual.merger.mlp.0", Bias::kPresent, o);
  mlp2_ = BindLinear(store, "visual.merger.mlp.2", Bias::kPresent, o);
}

void PatchMerger::Forward(const float* x, std::span<const int64_t> window_index,
                          const MergerScratch& s, float* out, ThreadPool& pool) const {
  const auto tokens = static_cast<int64_t>(window_index.size());
  const int64_t patches = tokens * (merged_dim_ / hidden_);
  QWENVL_CHECK(static_cast<int64_t>(s.normed.size()) >= patches * hidden_);
  QWENVL_CHECK(static_cast<int64_t>(s.hidden.size()) >= tokens * merged_dim_);
  QWENVL_CHECK(static_cast<int64_t>(s.output.size()) >= tokens * out_hidden());
  kernels::RmsNorm(x, ln_q_.data(), patches, hidden_, eps_, s.normed.data(), pool);
  // The normed patches of one merged token are consecutive rows (window order keeps them
  // together), so [patches, hidden] read as [tokens, merged_dim] is the concatenation of §3.6.
  ApplyLinear(mlp0_, s.normed.data(), tokens, s.hidden.data(), pool);
  pool.RunRanges(tokens, [&](int64_t begin, int64_t end, int) {
    kernels::GeluErf(s.hidden.data() + begin * merged_dim_, (end - begin) * merged_dim_);
  });
  ApplyLinear(mlp2_, s.hidden.data(), tokens, s.output.data(), pool);
  ToNaturalOrder(s.output.data(), window_index, out_hidden(), out);
}

}  // namespace qwenvl::model
