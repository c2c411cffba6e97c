// The tensors a Qwen2.5-VL checkpoint holds (model-spec §1.3), derived from the config. Each
// tensor's name and shape are stated once here, in typed sets per model part: ExpectedTensors
// flattens them into the list that loading checks a model folder against (and the test-checkpoint
// generator writes), and the model binds its weights through the same sets, so the two cannot drift
// apart.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/model_config.h"
#include "io/safetensors.h"

namespace qwenvl::io {

// How the deterministic test-checkpoint generator fills a tensor (fixtures README).
enum class InitKind { kNorm, kBias, kEmbed, kLinear };

struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
  InitKind kind;
  int64_t fan_in = 0;  // for kLinear
};

// A linear layer (or the patch embedding's convolution): NAME.weight [out, in...], and NAME.bias
// [out] for the layers that have one.
struct LinearTensors {
  ExpectedTensor weight;
  std::optional<ExpectedTensor> bias;

  void AppendTo(std::vector<ExpectedTensor>& out) const;
};

// Each part's AppendTo adds its tensors in the order the published files (and the generator, whose
// output is pinned byte for byte) list them.

// visual.patch_embed: a Conv3d without bias, [Dv, 3, Tp, P, P] (§3.1).
struct PatchEmbedTensors {
  LinearTensors proj;

  static PatchEmbedTensors Of(const VisionConfig& config);
  void AppendTo(std::vector<ExpectedTensor>& out) const;
};

// visual.blocks.<block>.
struct VisionBlockTensors {
  ExpectedTensor norm1;
  ExpectedTensor norm2;
  LinearTensors qkv;
  LinearTensors proj;
  LinearTensors gate_proj;
  LinearTensors up_proj;
  LinearTensors down_proj;

  static VisionBlockTensors Of(const VisionConfig& config, int64_t block);
  void AppendTo(std::vector<ExpectedTensor>& out) const;
};

// visual.merger (mlp.1 is the GELU and has no tensors).
struct PatchMergerTensors {
  ExpectedTensor ln_q;
  LinearTensors mlp0;
  LinearTensors mlp2;

  static PatchMergerTensors Of(const VisionConfig& config);
  void AppendTo(std::vector<ExpectedTensor>& out) const;
};

// model.layers.<layer>.
struct DecoderLayerTensors {
  ExpectedTensor input_layernorm;
  ExpectedTensor post_attention_layernorm;
  LinearTensors q_proj;
  LinearTensors k_proj;
  LinearTensors v_proj;
  LinearTensors o_proj;
  LinearTensors gate_proj;
  LinearTensors up_proj;
  LinearTensors down_proj;

  static DecoderLayerTensors Of(const TextConfig& config, int64_t layer);
  void AppendTo(std::vector<ExpectedTensor>& out) const;
};

// The language model's tensors around its layers: the embedding table before them, the final norm
// and the output head after. lm_head is stated even for tied embeddings, where the checkpoint may
// omit it (§1.3); the files list embed_tokens first and the others after the layers.
struct DecoderOuterTensors {
  ExpectedTensor embed_tokens;
  ExpectedTensor norm;
  LinearTensors lm_head;

  static DecoderOuterTensors Of(const TextConfig& config);
};

// Every tensor of the checkpoint; lm_head.weight only when the embeddings are untied.
std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& config);

// The tensor of store that `expected` names, checked to have its shape. Throws Error naming the
// tensor: kNotFound when it is missing, kCorruptFile when the shape differs.
const TensorInfo& GetExpected(const TensorStore& store, const ExpectedTensor& expected);

struct CheckpointReport {
  std::vector<std::string> unused;  // tensors in the files that the model does not use
  bool lm_head_tied = false;        // true: the output head reads model.embed_tokens.weight
};

// Checks every expected tensor is present with its shape and a usable dtype (F32, BF16, F16).
// Throws one Error listing every problem found (missing, wrong shape, unusable dtype), naming
// `dir`.
CheckpointReport ValidateCheckpoint(const TensorStore& store, const ModelConfig& config,
                                    const std::string& dir);

}  // namespace qwenvl::io
