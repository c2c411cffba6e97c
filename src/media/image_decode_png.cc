// PNG through libpng, converted as PIL's PngImagePlugin + convert("RGB") do: 16-bit samples keep
// their high byte, except 16-bit greyscale which PIL opens as mode "I" and clips to 255; 1/2/4-bit
// grey is scaled to 8 bits; palette indices past the PLTE map to PIL's default grey ramp; alpha
// and tRNS are ignored. libpng reports errors by longjmp to the setjmp in DecodeInto; only libpng's
// C frames are skipped.
#include <png.h>

#include <csetjmp>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "media/image_decode_formats.h"
#include "util/error.h"

namespace qwenvl::media::detail {
namespace {

struct PngSource {
  const uint8_t* data;
  size_t size;
  size_t pos;
  char message[200];
};

void ReadFromMemory(png_structp png, png_bytep out, png_size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (n > src->size - src->pos) png_error(png, "file is truncated");
  std::memcpy(out, src->data + src->pos, n);
  src->pos += n;
}

void OnPngError(png_structp png, png_const_charp msg) {
  auto* src = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(src->message, sizeof(src->message), "%s", msg);
  png_longjmp(png, 1);
}

void OnPngWarning(png_structp, png_const_charp) {}

// Converts one decoded row (after the transforms set in DecodeInto) to RGB.
void ToRgb(const uint8_t* in, int channels, bool gray16, const uint8_t (*palette)[3], int width,
           uint8_t* out) {
  for (int x = 0; x < width; ++x, out += 3) {
    if (palette != nullptr) {
      std::memcpy(out, palette[in[x]], 3);
    } else if (gray16) {
      const int v = (in[2 * x] << 8) | in[2 * x + 1];
      out[0] = out[1] = out[2] = static_cast<uint8_t>(v > 255 ? 255 : v);
    } else if (channels <= 2) {
      out[0] = out[1] = out[2] = in[channels * x];
    } else {
      std::memcpy(out, in + channels * x, 3);
    }
  }
}

bool DecodeInto(png_structp png, png_infop info, const DecodeLimits& limits, RgbImage* img,
                std::vector<uint8_t>* raw, std::vector<png_bytep>* rows,
                std::optional<Error>* pending) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  const int depth = png_get_bit_depth(png, info);
  const int color = png_get_color_type(png, info);
  try {
    CheckImageSize("PNG", width, height, limits);
  } catch (const Error& e) {
    *pending = e;
    return true;
  }
  const bool gray16 = color == PNG_COLOR_TYPE_GRAY && depth == 16;
  uint8_t palette[256][3];
  if (color == PNG_COLOR_TYPE_PALETTE) {
    for (int i = 0; i < 256; ++i) palette[i][0] = palette[i][1] = palette[i][2] = i;
    png_colorp plte = nullptr;
    int n = 0;
    if (png_get_PLTE(png, info, &plte, &n) && plte != nullptr) {
      for (int i = 0; i < n && i < 256; ++i) {
        palette[i][0] = plte[i].red, palette[i][1] = plte[i].green, palette[i][2] = plte[i].blue;
      }
    }
  }
  if (depth < 8) {
    if (color == PNG_COLOR_TYPE_GRAY) png_set_expand_gray_1_2_4_to_8(png);
    png_set_packing(png);
  }
  if (depth == 16 && !gray16) png_set_strip_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const int channels = png_get_channels(png, info);
  const size_t rowbytes = png_get_rowbytes(png, info);
  *img = AllocateRgb(static_cast<int>(width), static_cast<int>(height));
  const bool direct = color == PNG_COLOR_TYPE_RGB && channels == 3 && rowbytes == width * 3u;
  if (!direct) raw->resize(rowbytes * height);
  rows->resize(height);
  for (png_uint_32 y = 0; y < height; ++y) {
    (*rows)[y] = direct ? img->pixels.data() + static_cast<size_t>(y) * width * 3
                        : raw->data() + y * rowbytes;
  }
  png_read_image(png, rows->data());
  if (!direct) {
    for (png_uint_32 y = 0; y < height; ++y) {
      ToRgb((*rows)[y], channels, gray16, color == PNG_COLOR_TYPE_PALETTE ? palette : nullptr,
            static_cast<int>(width), img->pixels.data() + static_cast<size_t>(y) * width * 3);
    }
  }
  // The image data is complete; like PIL we do not require the chunks after IDAT to be valid.
  return true;
}

}  // namespace

ImageHeader ProbePng(std::span<const uint8_t> bytes) {
  // The 8-byte signature, then IHDR, which must come first: length 13, type, width, height.
  constexpr size_t kIhdrEnd = 8 + 4 + 4 + 8;
  if (bytes.size() < kIhdrEnd) {
    throw Error(ErrorCode::kCorruptFile, "corrupt PNG: the file ends before its IHDR chunk");
  }
  const auto be32 = [&](size_t at) {
    return (uint32_t{bytes[at]} << 24) | (uint32_t{bytes[at + 1]} << 16) |
           (uint32_t{bytes[at + 2]} << 8) | bytes[at + 3];
  };
  if (be32(8) != 13 || std::memcmp(bytes.data() + 12, "IHDR", 4) != 0) {
    throw Error(ErrorCode::kCorruptFile, "corrupt PNG: the first chunk is not a 13-byte IHDR");
  }
  return {ImageFormat::kPng, be32(16), be32(20)};
}

RgbImage DecodePng(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
  PngSource src{bytes.data(), bytes.size(), 0, {0}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, OnPngError, OnPngWarning);
  if (png == nullptr) throw Error(ErrorCode::kInternal, "libpng: cannot create read struct");
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    throw Error(ErrorCode::kInternal, "libpng: cannot create info struct");
  }
  png_set_read_fn(png, &src, ReadFromMemory);
  RgbImage img;
  std::vector<uint8_t> raw;
  std::vector<png_bytep> rows;
  std::optional<Error> pending;
  const bool ok = DecodeInto(png, info, limits, &img, &raw, &rows, &pending);
  png_destroy_read_struct(&png, &info, nullptr);
  if (!ok) throw Error(ErrorCode::kCorruptFile, std::string("corrupt PNG: ") + src.message);
  if (pending) throw *pending;
  return img;
}

}  // namespace qwenvl::media::detail
