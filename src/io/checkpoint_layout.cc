#include "io/checkpoint_layout.h"

#include <set>

#include "util/error.h"

namespace qwenvl::io {

namespace {

void AddVision(const VisionConfig& v, int64_t text_hidden, std::vector<ExpectedTensor>& out) {
  const int64_t vh = v.hidden_size, vi = v.intermediate_size;
  const int64_t patch = v.patch_size;
  out.push_back({"visual.patch_embed.proj.weight",
                 {vh, v.in_channels, v.temporal_patch_size, patch, patch},
                 InitKind::kLinear,
                 v.patch_dim()});
  for (int64_t i = 0; i < v.depth; ++i) {
    const std::string p = "visual.blocks." + std::to_string(i) + ".";
    out.push_back({p + "norm1.weight", {vh}, InitKind::kNorm});
    out.push_back({p + "norm2.weight", {vh}, InitKind::kNorm});
    out.push_back({p + "attn.qkv.weight", {3 * vh, vh}, InitKind::kLinear, vh});
    out.push_back({p + "attn.qkv.bias", {3 * vh}, InitKind::kBias});
    out.push_back({p + "attn.proj.weight", {vh, vh}, InitKind::kLinear, vh});
    out.push_back({p + "attn.proj.bias", {vh}, InitKind::kBias});
    out.push_back({p + "mlp.gate_proj.weight", {vi, vh}, InitKind::kLinear, vh});
    out.push_back({p + "mlp.gate_proj.bias", {vi}, InitKind::kBias});
    out.push_back({p + "mlp.up_proj.weight", {vi, vh}, InitKind::kLinear, vh});
    out.push_back({p + "mlp.up_proj.bias", {vi}, InitKind::kBias});
    out.push_back({p + "mlp.down_proj.weight", {vh, vi}, InitKind::kLinear, vi});
    out.push_back({p + "mlp.down_proj.bias", {vh}, InitKind::kBias});
  }
  const int64_t mh = v.merged_dim();
  out.push_back({"visual.merger.ln_q.weight", {vh}, InitKind::kNorm});
  out.push_back({"visual.merger.mlp.0.weight", {mh, mh}, InitKind::kLinear, mh});
  out.push_back({"visual.merger.mlp.0.bias", {mh}, InitKind::kBias});
  out.push_back({"visual.merger.mlp.2.weight", {v.out_hidden_size, mh}, InitKind::kLinear, mh});
  out.push_back({"visual.merger.mlp.2.bias", {v.out_hidden_size}, InitKind::kBias});
  (void)text_hidden;
}

void AddText(const TextConfig& t, std::vector<ExpectedTensor>& out) {
  const int64_t d = t.hidden_size, hd = t.head_dim();
  const int64_t q = t.num_attention_heads * hd, kv = t.num_key_value_heads * hd;
  const int64_t ff = t.intermediate_size;
  out.push_back({"model.embed_tokens.weight", {t.vocab_size, d}, InitKind::kEmbed});
  for (int64_t l = 0; l < t.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    out.push_back({p + "input_layernorm.weight", {d}, InitKind::kNorm});
    out.push_back({p + "post_attention_layernorm.weight", {d}, InitKind::kNorm});
    out.push_back({p + "self_attn.q_proj.weight", {q, d}, InitKind::kLinear, d});
    out.push_back({p + "self_attn.q_proj.bias", {q}, InitKind::kBias});
    out.push_back({p + "self_attn.k_proj.weight", {kv, d}, InitKind::kLinear, d});
    out.push_back({p + "self_attn.k_proj.bias", {kv}, InitKind::kBias});
    out.push_back({p + "self_attn.v_proj.weight", {kv, d}, InitKind::kLinear, d});
    out.push_back({p + "self_attn.v_proj.bias", {kv}, InitKind::kBias});
    out.push_back({p + "self_attn.o_proj.weight", {d, q}, InitKind::kLinear, q});
    out.push_back({p + "mlp.gate_proj.weight", {ff, d}, InitKind::kLinear, d});
    out.push_back({p + "mlp.up_proj.weight", {ff, d}, InitKind::kLinear, d});
    out.push_back({p + "mlp.down_proj.weight", {d, ff}, InitKind::kLinear, ff});
  }
  out.push_back({"model.norm.weight", {d}, InitKind::kNorm});
  if (!t.tie_word_embeddings)
    out.push_back({"lm_head.weight", {t.vocab_size, d}, InitKind::kLinear, d});
}

std::string Shape(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& config) {
  std::vector<ExpectedTensor> out;
  AddVision(config.vision, config.text.hidden_size, out);
  AddText(config.text, out);
  return out;
}

CheckpointReport ValidateCheckpoint(const TensorStore& store, const ModelConfig& config,
                                    const std::string& dir) {
  std::vector<std::string> problems;
  std::set<std::string> used;
  auto check = [&](const std::string& name, const std::vector<int64_t>& shape) {
    const TensorInfo* t = store.Find(name);
    if (t == nullptr) {
      problems.push_back("tensor " + name + " is missing");
      return;
    }
    used.insert(name);
    if (t->shape != shape)
      problems.push_back("tensor " + name + ": shape " + Shape(shape) + " expected, file has " +
                         t->ShapeString());
    if (t->dtype != DType::kBF16 && t->dtype != DType::kF32 && t->dtype != DType::kF16)
      problems.push_back("tensor " + name + ": dtype " + DTypeName(t->dtype) +
                         " cannot be used (BF16, F16 or F32 expected)");
  };
  for (const auto& e : ExpectedTensors(config)) check(e.name, e.shape);
  CheckpointReport report;
  if (config.text.tie_word_embeddings) {
    // A re-saved tied checkpoint may carry lm_head.weight; prefer it when present (§1.3).
    report.lm_head_tied = store.Find("lm_head.weight") == nullptr;
    if (!report.lm_head_tied)
      check("lm_head.weight", {config.text.vocab_size, config.text.hidden_size});
  }
  if (!problems.empty()) {
    std::string msg = dir + ": the checkpoint does not match config.json:";
    const size_t shown = std::min<size_t>(problems.size(), 20);
    for (size_t i = 0; i < shown; ++i) msg += "\n  " + problems[i];
    if (problems.size() > shown)
      msg += "\n  ... and " + std::to_string(problems.size() - shown) + " more";
    throw Error(ErrorCode::kCorruptFile, msg);
  }
  for (const auto& name : store.Names())
    if (!used.count(name)) report.unused.push_back(name);
  return report;
}

}  // namespace qwenvl::io
