#include "media/image_decode.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "media/image_decode_formats.h"
#include "util/error.h"

namespace qwenvl::media {
namespace detail {

void CheckImageSize(const char* format, int64_t width, int64_t height, const DecodeLimits& limits) {
  if (width <= 0 || height <= 0) {
    throw Error(ErrorCode::kCorruptFile, std::string(format) + " image has a zero size (" +
                                             std::to_string(width) + "x" + std::to_string(height) +
                                             ")");
  }
  if (width > limits.max_pixels / height) {
    throw Error(ErrorCode::kOutOfRange, std::string(format) + " image of " + std::to_string(width) +
                                            "x" + std::to_string(height) +
                                            " pixels is above the limit of " +
                                            std::to_string(limits.max_pixels) + " pixels");
  }
  if ((limits.expected_width > 0 && width != limits.expected_width) ||
      (limits.expected_height > 0 && height != limits.expected_height)) {
    throw Error(ErrorCode::kCorruptFile, std::string(format) + " image decodes to " +
                                             std::to_string(width) + "x" + std::to_string(height) +
                                             ", its header read gave " +
                                             std::to_string(limits.expected_width) + "x" +
                                             std::to_string(limits.expected_height));
  }
}

RgbImage AllocateRgb(int width, int height) {
  RgbImage img;
  img.width = width;
  img.height = height;
  img.pixels.resize(static_cast<size_t>(width) * height * 3);
  return img;
}

}  // namespace detail

ImageFormat DetectImageFormat(std::span<const uint8_t> b) {
  auto starts = [&](const char* magic, size_t n, size_t at = 0) {
    return b.size() >= at + n && std::memcmp(b.data() + at, magic, n) == 0;
  };
  if (starts("\xFF\xD8\xFF", 3)) return ImageFormat::kJpeg;
  if (starts("\x89PNG\r\n\x1A\n", 8)) return ImageFormat::kPng;
  if (starts("RIFF", 4) && starts("WEBP", 4, 8)) return ImageFormat::kWebp;
  if (starts("GIF87a", 6) || starts("GIF89a", 6)) return ImageFormat::kGif;
  if (starts("BM", 2)) return ImageFormat::kBmp;
  return ImageFormat::kUnknown;
}

const char* ImageFormatName(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
      return "JPEG";
    case ImageFormat::kPng:
      return "PNG";
    case ImageFormat::kWebp:
      return "WebP";
    case ImageFormat::kGif:
      return "GIF";
    case ImageFormat::kBmp:
      return "BMP";
    case ImageFormat::kUnknown:
      break;
  }
  return "unknown";
}

RgbImage DecodeImage(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
  if (bytes.empty()) throw Error(ErrorCode::kInvalidArgument, "image data is empty");
  switch (DetectImageFormat(bytes)) {
    case ImageFormat::kJpeg:
      return detail::DecodeJpeg(bytes, limits);
    case ImageFormat::kPng:
      return detail::DecodePng(bytes, limits);
    case ImageFormat::kWebp:
      return detail::DecodeWebp(bytes, limits);
    case ImageFormat::kGif:
      return detail::DecodeGif(bytes, limits);
    case ImageFormat::kBmp:
      return detail::DecodeBmp(bytes, limits);
    case ImageFormat::kUnknown:
      break;
  }
  throw Error(ErrorCode::kUnsupported,
              "unknown image format (expected JPEG, PNG, WebP, GIF or BMP magic bytes)");
}

RgbImage DecodeImageFile(const std::string& path, const DecodeLimits& limits) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw Error(ErrorCode::kNotFound, "cannot open image file '" + path + "'");
  std::vector<uint8_t> data;
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f.get())) > 0) data.insert(data.end(), buf, buf + n);
  if (std::ferror(f.get())) throw Error(ErrorCode::kIo, "cannot read image file '" + path + "'");
  try {
    return DecodeImage(data, limits);
  } catch (const Error& e) {
    throw Error(e.code(), "'" + path + "': " + e.what());
  }
}

}  // namespace qwenvl::media
