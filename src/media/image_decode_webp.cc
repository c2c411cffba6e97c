// WebP through libwebp. Pillow 9.4 decodes a still WebP through WebPAnimDecoder into RGBA with the
// default decoder options; a still image is one key frame drawn on a cleared canvas, so its RGB
// values equal a plain WebPDecodeRGB (fancy upsampling on), and alpha is dropped by convert("RGB").
#include <webp/decode.h>

#include <string>

#include "media/image_decode_formats.h"
#include "util/error.h"

namespace qwenvl::media::detail {

// WebPGetFeatures parses the RIFF container and the VP8 / VP8L / VP8X header only.
ImageHeader ProbeWebp(std::span<const uint8_t> bytes) {
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(bytes.data(), bytes.size(), &features);
  if (status != VP8_STATUS_OK) {
    throw Error(ErrorCode::kCorruptFile, "corrupt or truncated WebP header (libwebp status " +
                                             std::to_string(static_cast<int>(status)) + ")");
  }
  if (features.has_animation) {
    throw Error(ErrorCode::kUnsupported, "animated WebP is not supported (still images only)");
  }
  return {ImageFormat::kWebp, features.width, features.height};
}

RgbImage DecodeWebp(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
  const ImageHeader header = ProbeWebp(bytes);
  CheckImageSize("WebP", header.width, header.height, limits);
  RgbImage img = AllocateRgb(static_cast<int>(header.width), static_cast<int>(header.height));
  if (WebPDecodeRGBInto(bytes.data(), bytes.size(), img.pixels.data(), img.pixels.size(),
                        img.width * 3) == nullptr) {
    throw Error(ErrorCode::kCorruptFile, "corrupt or truncated WebP image data (" +
                                             std::to_string(img.width) + "x" +
                                             std::to_string(img.height) + ")");
  }
  return img;
}

}  // namespace qwenvl::media::detail
