// The whole still-image pipeline of model-spec §6: size choice, PIL-exact bicubic resize,
// normalization and patch flattening.
#pragma once

#include <cstdint>
#include <optional>

#include "media/image.h"
#include "media/patchify.h"
#include "media/preprocessor_config.h"
#include "util/thread_pool.h"

namespace qwenvl::media {

struct ImageBudget {
  int64_t min_pixels = kDefaultMinPixels;
  int64_t max_pixels = kDefaultMaxPixels;
  // A fixed target size (both or neither). As in qwen-vl-utils it is still rounded to multiples of
  // 28 by smart_resize, with the min/max above.
  std::optional<int64_t> resized_height;
  std::optional<int64_t> resized_width;
};

// The budget of a preprocessor config (its min_pixels / max_pixels).
ImageBudget ImageBudgetFromConfig(const PreprocessorConfig& config);

struct PreprocessedImage {
  RgbImage resized;  // [Hr, Wr, 3], what the patches were cut from
  Patches patches;   // grid (1, Hr/14, Wr/14)
  int orig_width = 0;
  int orig_height = 0;
};

// Chooses the size (smart_resize with factor patch*merge), resizes (skipped for the same size)
// and patchifies. `opts` carries patch/merge/temporal sizes and mean/std (defaults: the published
// config); opts.pool, if set, is also used for the resize. Throws qwenvl::Error on a bad budget,
// an aspect ratio above 200, or an empty image.
PreprocessedImage PreprocessImage(const RgbImage& image, const ImageBudget& budget,
                                  const PatchifyOptions& opts = {});

}  // namespace qwenvl::media
