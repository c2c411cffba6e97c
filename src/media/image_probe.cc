#include "media/image_probe.h"

#include <string>

#include "media/image_decode_formats.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace qwenvl::media {

ImageHeader ProbeImage(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
  if (bytes.empty()) throw Error(ErrorCode::kInvalidArgument, "image data is empty");
  ImageHeader header;
  switch (DetectImageFormat(bytes)) {
    case ImageFormat::kJpeg:
      header = detail::ProbeJpeg(bytes);
      break;
    case ImageFormat::kPng:
      header = detail::ProbePng(bytes);
      break;
    case ImageFormat::kWebp:
      header = detail::ProbeWebp(bytes);
      break;
    case ImageFormat::kGif:
      header = detail::ProbeGif(bytes);
      break;
    case ImageFormat::kBmp:
      header = detail::ProbeBmp(bytes);
      break;
    case ImageFormat::kUnknown:
      throw Error(ErrorCode::kUnsupported,
                  "unknown image format (expected JPEG, PNG, WebP, GIF or BMP magic bytes)");
  }
  DecodeLimits size_only;
  size_only.max_pixels = limits.max_pixels;
  detail::CheckImageSize(ImageFormatName(header.format), header.width, header.height, size_only);
  return header;
}

ImageHeader ProbeImageFile(const std::string& path, const DecodeLimits& limits) {
  const MappedFile file(path);
  try {
    return ProbeImage(std::span(file.data(), file.size()), limits);
  } catch (const Error& e) {
    throw Error(e.code(), "'" + path + "': " + e.what());
  }
}

}  // namespace qwenvl::media
