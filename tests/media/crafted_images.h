// Pictures made by the tests themselves: PNGs of any size written row by row through libpng (a
// 3584x3584 bilevel picture is about 1.6 KB, a decompression bomb a few KB more), header-only
// copies whose pixel data is missing, and small helpers to write them to files.
#pragma once

#include <png.h>

#include <csetjmp>
#include <cstdint>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace qwenvl::media::testing {

// Fills one row (png_get_rowbytes bytes) of row y.
using PngRowFiller = std::function<void(int y, uint8_t* row)>;

namespace detail {

inline void AppendToVector(png_structp png, png_bytep data, png_size_t n) {
  auto* out = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + n);
}

inline void FlushNothing(png_structp) {}

// All objects with destructors live in the caller, so a libpng longjmp skips none.
inline bool WritePngInto(png_structp png, png_infop info, int width, int height, int bit_depth,
                         int color_type, bool interlaced, int level, const PngRowFiller& fill,
                         std::vector<uint8_t>* row) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height),
               bit_depth, color_type, interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    png_color palette[4] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
    png_set_PLTE(png, info, palette, 4);
  }
  png_set_compression_level(png, level);
  png_write_info(png, info);
  row->resize(png_get_rowbytes(png, info));
  const int passes = interlaced ? png_set_interlace_handling(png) : 1;
  for (int pass = 0; pass < passes; ++pass) {
    for (int y = 0; y < height; ++y) {
      fill(y, row->data());
      png_write_row(png, row->data());
    }
  }
  png_write_end(png, nullptr);
  return true;
}

}  // namespace detail

inline std::vector<uint8_t> MakePng(int width, int height, int bit_depth, int color_type,
                                    const PngRowFiller& fill, bool interlaced = false,
                                    int level = 6) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  std::vector<uint8_t> out;
  std::vector<uint8_t> row;
  png_set_write_fn(png, &out, detail::AppendToVector, detail::FlushNothing);
  const bool ok = detail::WritePngInto(png, info, width, height, bit_depth, color_type, interlaced,
                                       level, fill, &row);
  png_destroy_write_struct(&png, &info);
  if (!ok) throw std::runtime_error("libpng could not write the test picture");
  return out;
}

// Black, 1 bit a pixel: the smallest file for a given size.
inline std::vector<uint8_t> BilevelPng(int width, int height) {
  return MakePng(
      width, height, 1, PNG_COLOR_TYPE_GRAY, [](int, uint8_t*) {}, false, 9);
}

// 8-bit grey with a diagonal ramp offset by `shade`, quick to write at level 1.
inline std::vector<uint8_t> GrayRampPng(int width, int height, int shade = 0) {
  return MakePng(
      width, height, 8, PNG_COLOR_TYPE_GRAY,
      [width, shade](int y, uint8_t* row) {
        for (int x = 0; x < width; ++x) row[x] = static_cast<uint8_t>((x + y + shade) >> 4);
      },
      false, 1);
}

// The signature and the IHDR chunk of `png`, then IEND: the header is whole, the pixels are
// missing, so decoding it fails (kCorruptFile) while reading its size works.
inline std::vector<uint8_t> HeaderOnly(const std::vector<uint8_t>& png) {
  constexpr size_t kSignatureAndIhdr = 8 + 4 + 4 + 13 + 4;
  std::vector<uint8_t> out(png.begin(), png.begin() + kSignatureAndIhdr);
  const uint8_t iend[] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
  out.insert(out.end(), iend, iend + sizeof(iend));
  return out;
}

inline void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace qwenvl::media::testing
