// generation_config.json: the model folder's default sampling settings and stop ids (model-spec
// §9).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "qwenvl/token_id.h"

namespace qwenvl::runtime {

struct GenerationDefaults {
  bool do_sample = false;
  float temperature = 1.0f;
  int top_k = 0;       // 0: off
  float top_p = 1.0f;  // 1: off
  float min_p = 0.0f;  // 0: off
  float repetition_penalty = 1.0f;
  std::vector<TokenId> eos_token_ids;
};

// Reads DIR/generation_config.json if present (absent: greedy, no penalty). eos ids from the file
// are merged with config_eos (config.json's eos_token_id).
GenerationDefaults LoadGenerationDefaults(const std::string& model_dir,
                                          const std::vector<TokenId>& config_eos);
GenerationDefaults ParseGenerationDefaults(const std::string& json_text, const std::string& path,
                                           const std::vector<TokenId>& config_eos);

}  // namespace qwenvl::runtime
