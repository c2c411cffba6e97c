// A parity case in the fixtures format (fixtures README, model/ section): MODEL.CASE.json with the
// prompt ids, the names of its images and videos in an inputs file, their grids, and a reference
// safetensors file of values computed by transformers. Paths are relative to the case file.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/grid.h"
#include "model/qwen2_5_vl.h"
#include "qwenvl/token_id.h"

namespace qwenvl::model {

// A reference tensor, copied out of its file: F32 values in f32, I64 values in i64.
struct RefTensor {
  std::vector<int64_t> shape;
  std::vector<float> f32;
  std::vector<int64_t> i64;
  int64_t numel() const;
};

struct ReplayCase {
  std::string path;  // the case JSON
  std::string name;  // its file name without ".json"
  std::vector<TokenId> input_ids;
  std::vector<GridThw> image_grids;
  std::vector<GridThw> video_grids;
  std::vector<double> second_per_grid_ts;
  std::vector<float> image_pixels;  // [Σ t·h·w, patch_dim], images in prompt order
  std::vector<float> video_pixels;  // [Σ t·h·w, patch_dim]
  std::optional<int64_t> rope_delta;
  std::vector<TokenId> greedy_ids;
  std::map<std::string, RefTensor> reference;  // by tensor name

  // Views of this case's prompt (valid while the case lives).
  PromptInput Prompt() const;
  const RefTensor* Find(const std::string& name) const;
};

// Reads the case JSON, its inputs file (when it names images or videos) and its reference file.
// Throws Error naming the file and the key or tensor at fault.
ReplayCase LoadReplayCase(const std::string& path);

}  // namespace qwenvl::model
