#include "io/checkpoint_layout.h"

#include <algorithm>
#include <set>

#include "util/error.h"

namespace qwenvl::io {

namespace {

enum class HasBias { kNo, kYes };

// An RMSNorm's weight, MODULE.weight [size].
ExpectedTensor Norm(const std::string& module, int64_t size) {
  return {module + ".weight", {size}, InitKind::kNorm};
}

LinearTensors Linear(const std::string& module, int64_t out, int64_t in, HasBias bias) {
  LinearTensors t{{module + ".weight", {out, in}, InitKind::kLinear, in}, std::nullopt};
  if (bias == HasBias::kYes) t.bias = ExpectedTensor{module + ".bias", {out}, InitKind::kBias};
  return t;
}

std::string Shape(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

// The same wording for a folder's check and a binder's, so both name both shapes.
std::string ShapeProblem(const ExpectedTensor& expected, const TensorInfo& found) {
  return "tensor " + expected.name + ": shape " + Shape(expected.shape) + " expected, file has " +
         found.ShapeString();
}

}  // namespace

void LinearTensors::AppendTo(std::vector<ExpectedTensor>& out) const {
  out.push_back(weight);
  if (bias) out.push_back(*bias);
}

PatchEmbedTensors PatchEmbedTensors::Of(const VisionConfig& v) {
  const int64_t patch = v.patch_size;
  return {.proj = {{"visual.patch_embed.proj.weight",
                    {v.hidden_size, v.in_channels, v.temporal_patch_size, patch, patch},
                    InitKind::kLinear,
                    v.patch_dim()},
                   std::nullopt}};
}

void PatchEmbedTensors::AppendTo(std::vector<ExpectedTensor>& out) const { proj.AppendTo(out); }

VisionBlockTensors VisionBlockTensors::Of(const VisionConfig& v, int64_t block) {
  const std::string p = "visual.blocks." + std::to_string(block) + ".";
  const int64_t vh = v.hidden_size, vi = v.intermediate_size;
  return {.norm1 = Norm(p + "norm1", vh),
          .norm2 = Norm(p + "norm2", vh),
          .qkv = Linear(p + "attn.qkv", 3 * vh, vh, HasBias::kYes),
          .proj = Linear(p + "attn.proj", vh, vh, HasBias::kYes),
          .gate_proj = Linear(p + "mlp.gate_proj", vi, vh, HasBias::kYes),
          .up_proj = Linear(p + "mlp.up_proj", vi, vh, HasBias::kYes),
          .down_proj = Linear(p + "mlp.down_proj", vh, vi, HasBias::kYes)};
}

void VisionBlockTensors::AppendTo(std::vector<ExpectedTensor>& out) const {
  out.push_back(norm1);
  out.push_back(norm2);
  for (const LinearTensors* l : {&qkv, &proj, &gate_proj, &up_proj, &down_proj}) l->AppendTo(out);
}

PatchMergerTensors PatchMergerTensors::Of(const VisionConfig& v) {
  const int64_t mh = v.merged_dim();
  return {.ln_q = Norm("visual.merger.ln_q", v.hidden_size),
          .mlp0 = Linear("visual.merger.mlp.0", mh, mh, HasBias::kYes),
          .mlp2 = Linear("visual.merger.mlp.2", v.out_hidden_size, mh, HasBias::kYes)};
}

void PatchMergerTensors::AppendTo(std::vector<ExpectedTensor>& out) const {
  out.push_back(ln_q);
  mlp0.AppendTo(out);
  mlp2.AppendTo(out);
}

DecoderLayerTensors DecoderLayerTensors::Of(const TextConfig& t, int64_t layer) {
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  const int64_t d = t.hidden_size, hd = t.head_dim();
  const int64_t q = t.num_attention_heads * hd, kv = t.num_key_value_heads * hd;
  const int64_t ff = t.intermediate_size;
  return {.input_layernorm = Norm(p + "input_layernorm", d),
          .post_attention_layernorm = Norm(p + "post_attention_layernorm", d),
          .q_proj = Linear(p + "self_attn.q_proj", q, d, HasBias::kYes),
          .k_proj = Linear(p + "self_attn.k_proj", kv, d, HasBias::kYes),
          .v_proj = Linear(p + "self_attn.v_proj", kv, d, HasBias::kYes),
          .o_proj = Linear(p + "self_attn.o_proj", d, q, HasBias::kNo),
          .gate_proj = Linear(p + "mlp.gate_proj", ff, d, HasBias::kNo),
          .up_proj = Linear(p + "mlp.up_proj", ff, d, HasBias::kNo),
          .down_proj = Linear(p + "mlp.down_proj", d, ff, HasBias::kNo)};
}

void DecoderLayerTensors::AppendTo(std::vector<ExpectedTensor>& out) const {
  out.push_back(input_layernorm);
  out.push_back(post_attention_layernorm);
  for (const LinearTensors* l :
       {&q_proj, &k_proj, &v_proj, &o_proj, &gate_proj, &up_proj, &down_proj})
    l->AppendTo(out);
}

DecoderOuterTensors DecoderOuterTensors::Of(const TextConfig& t) {
  const int64_t d = t.hidden_size;
  return {.embed_tokens = {"model.embed_tokens.weight", {t.vocab_size, d}, InitKind::kEmbed},
          .norm = Norm("model.norm", d),
          .lm_head = Linear("lm_head", t.vocab_size, d, HasBias::kNo)};
}

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& config) {
  const VisionConfig& v = config.vision;
  const TextConfig& t = config.text;
  std::vector<ExpectedTensor> out;
  PatchEmbedTensors::Of(v).AppendTo(out);
  for (int64_t i = 0; i < v.depth; ++i) VisionBlockTensors::Of(v, i).AppendTo(out);
  PatchMergerTensors::Of(v).AppendTo(out);
  const DecoderOuterTensors outer = DecoderOuterTensors::Of(t);
  out.push_back(outer.embed_tokens);
  for (int64_t l = 0; l < t.num_hidden_layers; ++l) DecoderLayerTensors::Of(t, l).AppendTo(out);
  out.push_back(outer.norm);
  if (!t.tie_word_embeddings) outer.lm_head.AppendTo(out);
  return out;
}

const TensorInfo& GetExpected(const TensorStore& store, const ExpectedTensor& expected) {
  const TensorInfo& t = store.Get(expected.name);
  if (t.shape != expected.shape)
    throw Error(ErrorCode::kCorruptFile, t.file + ": " + ShapeProblem(expected, t));
  return t;
}

CheckpointReport ValidateCheckpoint(const TensorStore& store, const ModelConfig& config,
                                    const std::string& dir) {
  std::vector<std::string> problems;
  std::set<std::string> used;
  auto check = [&](const ExpectedTensor& e) {
    const TensorInfo* t = store.Find(e.name);
    if (t == nullptr) {
      problems.push_back("tensor " + e.name + " is missing");
      return;
    }
    used.insert(e.name);
    if (t->shape != e.shape) problems.push_back(ShapeProblem(e, *t));
    if (!WeightFormatOf(t->dtype))
      problems.push_back("tensor " + e.name + ": dtype " + DTypeName(t->dtype) +
                         " cannot be used (BF16, F16 or F32 expected)");
  };
  for (const auto& e : ExpectedTensors(config)) check(e);
  CheckpointReport report;
  if (config.text.tie_word_embeddings) {
    // A re-saved tied checkpoint may carry lm_head.weight; prefer it when present (§1.3).
    const LinearTensors lm_head = DecoderOuterTensors::Of(config.text).lm_head;
    report.lm_head_tied = store.Find(lm_head.weight.name) == nullptr;
    if (!report.lm_head_tied) check(lm_head.weight);
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
