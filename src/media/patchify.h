// Normalization and patch flattening of resized frames (model-spec §6.4, §6.5).
#pragma once

#include <array>
#include <span>

#include "media/image.h"
#include "util/thread_pool.h"

namespace qwenvl::media {

// OPENAI_CLIP_MEAN / OPENAI_CLIP_STD (model-spec §6.4), the published preprocessor_config values.
inline constexpr std::array<float, 3> kClipMean = {0.48145466f, 0.4578275f, 0.40821073f};
inline constexpr std::array<float, 3> kClipStd = {0.26862954f, 0.26130258f, 0.27577711f};

struct PatchifyOptions {
  int patch_size = 14;
  int merge_size = 2;
  int temporal_patch = 2;
  std::array<float, 3> image_mean = kClipMean;
  std::array<float, 3> image_std = kClipStd;
  ThreadPool* pool = nullptr;  // optional: rows are split across its threads
};

// Normalizes every pixel as float32 (p / 255 - mean[c]) / std[c], pads the frame list to a multiple
// of temporal_patch by repeating the last frame (a single image becomes 2 identical frames), and
// flattens to [grid_t * grid_h * grid_w, 3 * temporal_patch * patch * patch]: rows in merge-block
// order, columns in (c, tt, py, px) order (model-spec §6.5, §11.4, §11.5, §11.21).
// All frames must share one size, a multiple of patch_size * merge_size on both sides; throws
// qwenvl::Error otherwise (or on an empty list / bad options).
Patches Patchify(std::span<const RgbImage> frames, const PatchifyOptions& opts);

}  // namespace qwenvl::media
