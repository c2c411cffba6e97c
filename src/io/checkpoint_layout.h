// The tensors a Qwen2.5-VL checkpoint holds (model-spec §1.3), derived from the config: one table,
// in the order the published files and the test-checkpoint generator use. Loading checks a model
// folder against it before any compute runs.
#pragma once

#include <cstdint>
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

// Every tensor of the checkpoint; lm_head.weight only when the embeddings are untied.
std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& config);

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
