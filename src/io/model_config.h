// config.json of a Qwen2.5-VL model folder as typed structs (model-spec §2). Both layouts load: the
// published flat one (text keys at top level, vision_config nested, rope_scaling.mrope_section) and
// the nested one newer transformers versions write (text_config, rope_parameters). Invariants are
// checked once here; no key is looked up by string after loading.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qwenvl/token_id.h"

namespace qwenvl::io {

struct VisionConfig {
  int64_t depth = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_heads = 0;
  int64_t in_channels = 3;
  int64_t out_hidden_size = 0;
  int64_t patch_size = 14;
  int64_t spatial_merge_size = 2;
  int64_t temporal_patch_size = 2;
  int64_t window_size = 112;
  std::vector<int64_t> fullatt_block_indexes;
  double tokens_per_second = 2.0;
  float rms_norm_eps = 1e-6f;  // fixed in the reference, not a config key (§2.2)

  int64_t head_dim() const { return hidden_size / num_heads; }
  // 1176 for the published model: 3 × 2 × 14 × 14.
  int64_t patch_dim() const { return in_channels * temporal_patch_size * patch_size * patch_size; }
  int64_t merged_dim() const { return hidden_size * spatial_merge_size * spatial_merge_size; }
  bool IsFullAttentionBlock(int64_t i) const;
};

struct TextConfig {
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  float rms_norm_eps = 1e-6f;
  double rope_theta = 1e6;
  std::vector<int64_t> mrope_section;  // sums to head_dim / 2
  bool tie_word_embeddings = false;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
};

struct ModelConfig {
  std::string model_type;
  TextConfig text;
  VisionConfig vision;
  TokenId bos_token_id = -1;
  std::vector<TokenId> eos_token_ids;
  TokenId vision_start_token_id = -1;
  TokenId vision_end_token_id = -1;
  TokenId vision_token_id = -1;
  TokenId image_token_id = -1;
  TokenId video_token_id = -1;
};

// Parses config.json text; `path` names the file in errors. Throws Error naming the missing or
// contradictory key.
ModelConfig ParseModelConfig(const std::string& json_text, const std::string& path);
// Reads DIR/config.json.
ModelConfig LoadModelConfig(const std::string& model_dir);

}  // namespace qwenvl::io
