// libFuzzer target for the still-image decoders (src/media/image_decode*.cc): any byte string must
// give either a consistent RGB image or a qwenvl::Error, never a crash, leak or sanitizer report.
// Seeds: fuzz/corpus/image_decode/ (the small PIL-made files of tests/data/preprocess/decode/).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "media/image_decode.h"
#include "media/resize_bicubic.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qwenvl::media::DecodeLimits limits;
  limits.max_pixels = 1 << 22;  // keep each run small; the limit itself is part of what is tested
  try {
    const qwenvl::media::RgbImage img =
        qwenvl::media::DecodeImage(std::span<const uint8_t>(data, size), limits);
    if (img.width <= 0 || img.height <= 0 ||
        img.pixels.size() != static_cast<size_t>(img.width) * img.height * 3 ||
        static_cast<int64_t>(img.width) * img.height > limits.max_pixels) {
      std::abort();
    }
    if (static_cast<int64_t>(img.width) * img.height <= 4096) {
      // Small pictures also go through the resampler, up and down.
      (void)qwenvl::media::ResizeBicubic(img, img.width * 2 + 1, (img.height + 1) / 2);
    }
  } catch (const qwenvl::Error&) {
  }
  return 0;
}
