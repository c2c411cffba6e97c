// smart_resize: the target size of a picture for the vision encoder (model-spec §6.2).
#pragma once

#include <cstdint>

namespace qwenvl::media {

struct ResizedSize {
  int64_t height;
  int64_t width;
};

// Largest aspect ratio smart_resize accepts (model-spec §6.2, MAX_RATIO).
inline constexpr double kMaxAspectRatio = 200.0;

// Both sides become multiples of `factor` (28 = patch 14 x merge 2) with about the original aspect
// ratio and height*width within [min_pixels, max_pixels], computed exactly as the reference does:
// float64 math and Python's round-half-to-even (model-spec §6.2, §11.18).
// Unlike the reference, each side is clamped to at least `factor`: the floor branch can otherwise
// give 0 for extreme aspect ratios (later qwen-vl-utils releases clamp the same way).
// Throws qwenvl::Error on a zero or negative size, an aspect ratio above 200, or a bad budget.
ResizedSize SmartResize(int64_t height, int64_t width, int64_t factor, int64_t min_pixels,
                        int64_t max_pixels);

}  // namespace qwenvl::media
