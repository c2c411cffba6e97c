// A Qwen2.5-VL model folder opened and checked: config.json parsed, safetensors mapped, every
// tensor checked against the config. Nothing is computed or copied here.
#pragma once

#include <string>

#include "io/checkpoint_layout.h"
#include "io/model_config.h"
#include "io/safetensors.h"

namespace qwenvl::io {

struct ModelFolder {
  std::string dir;
  ModelConfig config;
  TensorStore tensors;
  CheckpointReport report;

  // Throws Error naming the folder and the problem.
  static ModelFolder Open(const std::string& dir);
};

}  // namespace qwenvl::io
