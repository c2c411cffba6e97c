#include "media/image_preprocess.h"

#include <limits>
#include <span>
#include <string>

#include "media/resize_bicubic.h"
#include "media/smart_resize.h"
#include "util/error.h"

namespace qwenvl::media {

ImageBudget ImageBudgetFromConfig(const PreprocessorConfig& config) {
  ImageBudget b;
  b.min_pixels = config.min_pixels;
  b.max_pixels = config.max_pixels;
  return b;
}

PreprocessedImage PreprocessImage(const RgbImage& image, const ImageBudget& budget,
                                  const PatchifyOptions& opts) {
  if (image.width <= 0 || image.height <= 0) {
    throw Error(ErrorCode::kInvalidArgument, "preprocess: the image is empty");
  }
  if (budget.resized_height.has_value() != budget.resized_width.has_value()) {
    throw Error(ErrorCode::kInvalidArgument,
                "preprocess: resized_height and resized_width must be given together");
  }
  const int64_t factor = int64_t{opts.patch_size} * opts.merge_size;
  const int64_t h = budget.resized_height.value_or(image.height);
  const int64_t w = budget.resized_width.value_or(image.width);
  const ResizedSize size = SmartResize(h, w, factor, budget.min_pixels, budget.max_pixels);
  if (size.height > std::numeric_limits<int>::max() / 4 ||
      size.width > std::numeric_limits<int>::max() / 4) {
    throw Error(ErrorCode::kOutOfRange, "preprocess: target size " + std::to_string(size.width) +
                                            "x" + std::to_string(size.height) + " is too large");
  }
  PreprocessedImage out;
  out.orig_width = image.width;
  out.orig_height = image.height;
  out.resized =
      ResizeBicubic(image, static_cast<int>(size.width), static_cast<int>(size.height), opts.pool);
  out.patches = Patchify(std::span<const RgbImage>(&out.resized, 1), opts);
  return out;
}

}  // namespace qwenvl::media
