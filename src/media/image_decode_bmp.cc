// A small reader for uncompressed Windows/OS2 BMP: 1/4/8-bit palette, 24-bit BGR and 32-bit BGRX
// (BI_RGB, or BI_BITFIELDS whose masks are whole bytes). Other variants (RLE, 16-bit, JPEG/PNG
// payloads) are rejected with a clear error. Rows are bottom-up unless the height is negative.
#include <cstdint>
#include <cstring>
#include <string>

#include "media/image_decode_formats.h"
#include "util/error.h"

namespace qwenvl::media::detail {
namespace {

uint32_t U32(const uint8_t* p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t{p[3]} << 24);
}
uint16_t U16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

[[noreturn]] void Corrupt(const std::string& what) {
  throw Error(ErrorCode::kCorruptFile, "corrupt or truncated BMP: " + what);
}

struct BmpHeader {
  uint32_t pixel_offset = 0;
  uint32_t header_size = 0;
  int64_t width = 0;
  int64_t height = 0;  // negative: top-down
  int bpp = 0;
  uint32_t compression = 0;
  uint32_t colors_used = 0;
  int shift[3] = {16, 8, 0};  // bit position of R, G, B in a 32-bit pixel
};

constexpr uint32_t kBiRgb = 0, kBiBitfields = 3;

// The bit position of a whole-byte mask, or -1.
int ByteMaskShift(uint32_t mask) {
  for (int s = 0; s < 32; s += 8) {
    if (mask == (0xFFu << s)) return s;
  }
  return -1;
}

BmpHeader ParseHeader(std::span<const uint8_t> b) {
  if (b.size() < 26) Corrupt("file shorter than its headers");
  BmpHeader h;
  h.pixel_offset = U32(&b[10]);
  h.header_size = U32(&b[14]);
  if (h.header_size == 12) {  // OS/2 BITMAPCOREHEADER
    h.width = U16(&b[18]);
    h.height = U16(&b[20]);
    h.bpp = U16(&b[24]);
  } else if (h.header_size >= 40 && b.size() >= 14 + 40) {
    h.width = static_cast<int32_t>(U32(&b[18]));
    h.height = static_cast<int32_t>(U32(&b[22]));
    h.bpp = U16(&b[28]);
    h.compression = U32(&b[30]);
    h.colors_used = U32(&b[46]);
  } else {
    Corrupt("unknown DIB header size " + std::to_string(h.header_size));
  }
  if (h.compression == kBiBitfields && h.bpp == 32) {
    // Masks follow a 40-byte header, or sit inside a V4/V5 header at the same place.
    if (b.size() < 14 + 40 + 12) Corrupt("missing colour masks");
    for (int c = 0; c < 3; ++c) h.shift[c] = ByteMaskShift(U32(&b[54 + 4 * c]));
    if (h.shift[0] < 0 || h.shift[1] < 0 || h.shift[2] < 0) {
      throw Error(ErrorCode::kUnsupported, "BMP with non-byte colour masks is not supported");
    }
  } else if (h.compression != kBiRgb) {
    throw Error(ErrorCode::kUnsupported, "compressed BMP (compression " +
                                             std::to_string(h.compression) +
                                             ") is not supported; only uncompressed BMP is");
  }
  if (h.bpp != 1 && h.bpp != 4 && h.bpp != 8 && h.bpp != 24 && h.bpp != 32) {
    throw Error(ErrorCode::kUnsupported,
                "BMP with " + std::to_string(h.bpp) + " bits per pixel is not supported");
  }
  return h;
}

// 256 entries; those past the file's table follow PIL's default grey ramp.
void ReadPalette(std::span<const uint8_t> b, const BmpHeader& h, uint8_t (*pal)[3]) {
  for (int i = 0; i < 256; ++i) pal[i][0] = pal[i][1] = pal[i][2] = i;
  const size_t entry = h.header_size == 12 ? 3 : 4;
  const size_t start = 14 + h.header_size;
  uint32_t count = h.colors_used != 0 ? h.colors_used : (1u << h.bpp);
  if (count > 256) count = 256;
  for (uint32_t i = 0; i < count; ++i) {
    const size_t at = start + i * entry;
    if (at + 3 > b.size() || at + 3 > h.pixel_offset) break;
    pal[i][0] = b[at + 2], pal[i][1] = b[at + 1], pal[i][2] = b[at];
  }
}

}  // namespace

ImageHeader ProbeBmp(std::span<const uint8_t> b) {
  const BmpHeader h = ParseHeader(b);
  return {ImageFormat::kBmp, h.width, h.height < 0 ? -h.height : h.height};
}

RgbImage DecodeBmp(std::span<const uint8_t> b, const DecodeLimits& limits) {
  const BmpHeader h = ParseHeader(b);
  const bool top_down = h.height < 0;
  const int64_t height = top_down ? -h.height : h.height;
  CheckImageSize("BMP", h.width, height, limits);
  const int64_t stride = (h.width * h.bpp + 31) / 32 * 4;
  if (h.pixel_offset > b.size() ||
      static_cast<int64_t>(b.size() - h.pixel_offset) < stride * height) {
    Corrupt("pixel data of " + std::to_string(h.width) + "x" + std::to_string(height) + "x" +
            std::to_string(h.bpp) + " bits needs " + std::to_string(stride * height) +
            " bytes at offset " + std::to_string(h.pixel_offset) + ", file has " +
            std::to_string(b.size()));
  }
  uint8_t pal[256][3];
  if (h.bpp <= 8) ReadPalette(b, h, pal);
  RgbImage img = AllocateRgb(static_cast<int>(h.width), static_cast<int>(height));
  const int w = img.width;
  for (int64_t y = 0; y < height; ++y) {
    const uint8_t* src = b.data() + h.pixel_offset + (top_down ? y : height - 1 - y) * stride;
    uint8_t* dst = img.pixels.data() + y * w * 3;
    for (int x = 0; x < w; ++x, dst += 3) {
      if (h.bpp == 24) {
        dst[0] = src[3 * x + 2], dst[1] = src[3 * x + 1], dst[2] = src[3 * x];
      } else if (h.bpp == 32) {
        const uint32_t v = U32(src + 4 * x);
        dst[0] = v >> h.shift[0], dst[1] = v >> h.shift[1], dst[2] = v >> h.shift[2];
      } else {
        const int per_byte = 8 / h.bpp;
        const int shift = 8 - h.bpp * (x % per_byte + 1);
        const int idx = (src[x / per_byte] >> shift) & ((1 << h.bpp) - 1);
        std::memcpy(dst, pal[idx], 3);
      }
    }
  }
  return img;
}

}  // namespace qwenvl::media::detail
