// Bicubic resampling identical to Pillow's Image.resize(BICUBIC) on 8-bit RGB (model-spec §6.3).
#pragma once

#include "media/image.h"
#include "util/thread_pool.h"

namespace qwenvl::media {

// Byte-identical to PIL `img.resize((out_width, out_height), Image.BICUBIC)` for an 8-bit RGB
// image: a = -0.5, support 2 widened by the scale when downscaling, horizontal pass first into an
// 8-bit intermediate, 22-bit fixed-point coefficients, clip to [0, 255] (model-spec §6.3,
// §11.19). A pass whose axis keeps its size is skipped; the identity size returns a copy.
// `pool` (optional) splits the rows of each pass across its threads; the result does not depend on
// it. Throws qwenvl::Error on a non-positive output size or an inconsistent source.
RgbImage ResizeBicubic(const RgbImage& src, int out_width, int out_height,
                       ThreadPool* pool = nullptr);

}  // namespace qwenvl::media
