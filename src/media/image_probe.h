// The size of a still picture read from its header alone (PNG IHDR, JPEG SOF, GIF logical screen
// and first image descriptor, WebP VP8/VP8L/VP8X, BMP DIB header), so that budgets can be checked
// before any pixel is decoded or allocated. The size is the one DecodeImage would produce.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "media/image_decode.h"

namespace qwenvl::media {

struct ImageHeader {
  ImageFormat format = ImageFormat::kUnknown;
  int64_t width = 0;
  int64_t height = 0;
  int64_t pixels() const { return width * height; }
};

// Throws qwenvl::Error as DecodeImage does for what the header shows: kInvalidArgument when empty,
// kUnsupported for an unknown format or an unsupported variant, kCorruptFile for a truncated or
// malformed header or a zero size, kOutOfRange above limits.max_pixels. limits.expected_* are
// ignored.
ImageHeader ProbeImage(std::span<const uint8_t> bytes, const DecodeLimits& limits = {});

// Maps the file and reads its header only (only the pages the header spans are read); errors name
// the path.
ImageHeader ProbeImageFile(const std::string& path, const DecodeLimits& limits = {});

}  // namespace qwenvl::media
