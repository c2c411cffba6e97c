// The image settings of a model folder's preprocessor_config.json (model-spec §6.2, §6.4,
// §11.22).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "media/patchify.h"

namespace qwenvl::media {

// Pixel budget of the published preprocessor_config.json (all sizes) and of qwen-vl-utils.
inline constexpr int64_t kDefaultMinPixels = 3136;      // 4 * 28 * 28
inline constexpr int64_t kDefaultMaxPixels = 12845056;  // 16384 * 28 * 28
// The image processor class defaults, used for keys a config file leaves out.
inline constexpr int64_t kProcessorClassMinPixels = 56 * 56;
inline constexpr int64_t kProcessorClassMaxPixels = 28 * 28 * 1280;

struct PreprocessorConfig {
  int64_t min_pixels = kDefaultMinPixels;
  int64_t max_pixels = kDefaultMaxPixels;
  int patch_size = 14;
  int merge_size = 2;
  int temporal_patch_size = 2;
  std::array<float, 3> image_mean = kClipMean;
  std::array<float, 3> image_std = kClipStd;

  PatchifyOptions patchify_options() const;
  int64_t factor() const { return int64_t{patch_size} * merge_size; }
};

// Parses the JSON text. min_pixels / max_pixels come from the top-level keys, else from
// size.shortest_edge / size.longest_edge, else the processor class defaults (3136 / 1003520) as
// transformers does; the other keys default to the published values. `origin` names the source in
// errors. Throws qwenvl::Error(kCorruptFile) on malformed JSON or wrongly typed values.
PreprocessorConfig ParsePreprocessorConfig(const std::string& json_text, const std::string& origin);

// Reads `path`: a preprocessor_config.json file, or a model folder holding one.
PreprocessorConfig LoadPreprocessorConfig(const std::string& path);

}  // namespace qwenvl::media
