// Decoding of still pictures to 8-bit RGB, pixel-identical to PIL's Image.open(...).convert("RGB")
// (model-spec §6.1): JPEG, PNG, WebP, GIF (first frame) and BMP, chosen by magic bytes, never by
// the file name. EXIF orientation is not applied (PIL does not by default); alpha is dropped, not
// composited (the transformers processor path).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "media/image.h"

namespace qwenvl::media {

struct DecodeLimits {
  // Largest width * height accepted; checked from the header before any pixel is decoded, so a
  // small "decompression bomb" file cannot allocate gigabytes.
  int64_t max_pixels = int64_t{1} << 28;
  // When positive, the size the header must give (the one an earlier ProbeImage read): a decode
  // whose memory was budgeted from a probe then never allocates more than the probe promised.
  int64_t expected_width = 0;
  int64_t expected_height = 0;
};

enum class ImageFormat { kUnknown, kJpeg, kPng, kWebp, kGif, kBmp };

// The format named by the first bytes of a file (kUnknown when none matches).
ImageFormat DetectImageFormat(std::span<const uint8_t> bytes);
const char* ImageFormatName(ImageFormat format);

// Throws qwenvl::Error (kCorruptFile for truncated/corrupt data or a size other than
// limits.expected_*, kUnsupported for an unknown format or an unsupported variant, kOutOfRange
// above limits.max_pixels, kInvalidArgument when empty).
RgbImage DecodeImage(std::span<const uint8_t> bytes, const DecodeLimits& limits = {});

// Reads the file and decodes it; errors name the path.
RgbImage DecodeImageFile(const std::string& path, const DecodeLimits& limits = {});

}  // namespace qwenvl::media
