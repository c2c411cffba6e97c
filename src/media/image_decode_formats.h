// Per-format decoders behind DecodeImage (image_decode.h); each returns 8-bit RGB converted as
// PIL's convert("RGB") does and throws qwenvl::Error on bad data.
#pragma once

#include <cstdint>
#include <span>

#include "media/image.h"
#include "media/image_decode.h"
#include "media/image_probe.h"

namespace qwenvl::media::detail {

// Throws kOutOfRange if width * height is above the limit, kCorruptFile if a side is zero or the
// size is not the one limits.expected_* give.
void CheckImageSize(const char* format, int64_t width, int64_t height, const DecodeLimits& limits);

// An image of the given size with its pixel buffer allocated.
RgbImage AllocateRgb(int width, int height);

RgbImage DecodeJpeg(std::span<const uint8_t> bytes, const DecodeLimits& limits);
RgbImage DecodePng(std::span<const uint8_t> bytes, const DecodeLimits& limits);
RgbImage DecodeWebp(std::span<const uint8_t> bytes, const DecodeLimits& limits);
RgbImage DecodeGif(std::span<const uint8_t> bytes, const DecodeLimits& limits);
RgbImage DecodeBmp(std::span<const uint8_t> bytes, const DecodeLimits& limits);

// The header's size, read as the decoder above reads it, without decoding or allocating pixels.
// Throw as the decoders do for a malformed header or an unsupported variant; sizes are not checked.
ImageHeader ProbeJpeg(std::span<const uint8_t> bytes);
ImageHeader ProbePng(std::span<const uint8_t> bytes);
ImageHeader ProbeWebp(std::span<const uint8_t> bytes);
ImageHeader ProbeGif(std::span<const uint8_t> bytes);
ImageHeader ProbeBmp(std::span<const uint8_t> bytes);

}  // namespace qwenvl::media::detail
