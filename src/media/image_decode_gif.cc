// GIF, first frame only, through giflib, composed as Pillow 9.4's GifImagePlugin does for frame 0:
// the canvas is the logical screen (grown to hold the frame if it sticks out), filled with the
// frame's transparent index if it has one and with index 0 otherwise; the frame's indices are
// written as they are; then the local (else global) colour table maps indices to RGB, entries past
// the table following PIL's default grey ramp.
#include <gif_lib.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "media/image_decode_formats.h"
#include "util/error.h"

namespace qwenvl::media::detail {
namespace {

struct GifSource {
  const uint8_t* data;
  size_t size;
  size_t pos;
};

int ReadFromMemory(GifFileType* gif, GifByteType* out, int n) {
  auto* src = static_cast<GifSource*>(gif->UserData);
  const size_t take = std::min<size_t>(static_cast<size_t>(n), src->size - src->pos);
  std::memcpy(out, src->data + src->pos, take);
  src->pos += take;
  return static_cast<int>(take);
}

[[noreturn]] void Fail(GifFileType* gif, const char* what) {
  const char* msg = GifErrorString(gif->Error);
  throw Error(ErrorCode::kCorruptFile, std::string("corrupt or truncated GIF: ") + what + " (" +
                                           (msg != nullptr ? msg : "unknown error") + ")");
}

struct GifCloser {
  void operator()(GifFileType* gif) const {
    int err = 0;
    DGifCloseFile(gif, &err);
  }
};

// Reads extension blocks, noting a graphic control extension's transparent index.
void ReadExtension(GifFileType* gif, int* transparent) {
  int code = 0;
  GifByteType* block = nullptr;
  if (DGifGetExtension(gif, &code, &block) == GIF_ERROR) Fail(gif, "extension");
  if (code == GRAPHICS_EXT_FUNC_CODE && block != nullptr && block[0] >= 4 && (block[1] & 1)) {
    *transparent = block[4];
  }
  while (block != nullptr) {
    if (DGifGetExtensionNext(gif, &block) == GIF_ERROR) Fail(gif, "extension");
  }
}

using GifPtr = std::unique_ptr<GifFileType, GifCloser>;

GifPtr OpenGif(GifSource* src) {
  int err = 0;
  GifPtr gif(DGifOpen(src, ReadFromMemory, &err));
  if (!gif) {
    const char* msg = GifErrorString(err);
    throw Error(ErrorCode::kCorruptFile,
                std::string("corrupt or truncated GIF header (") + (msg ? msg : "?") + ")");
  }
  return gif;
}

// Reads the records up to and including the first image descriptor; returns the transparent index
// its graphic control extension gives, or -1.
int ReadToFirstFrame(GifFileType* gif) {
  int transparent = -1;
  for (;;) {
    GifRecordType type = UNDEFINED_RECORD_TYPE;
    if (DGifGetRecordType(gif, &type) == GIF_ERROR) Fail(gif, "record");
    if (type == IMAGE_DESC_RECORD_TYPE) {
      if (DGifGetImageDesc(gif) == GIF_ERROR) Fail(gif, "image descriptor");
      return transparent;
    }
    if (type == EXTENSION_RECORD_TYPE) {
      ReadExtension(gif, &transparent);
    } else if (type == TERMINATE_RECORD_TYPE) {
      throw Error(ErrorCode::kCorruptFile, "GIF has no image frame");
    }
  }
}

// The logical screen, grown to hold the first frame if it sticks out (as Pillow draws frame 0).
ImageHeader CanvasOf(const GifFileType* gif) {
  const GifImageDesc& d = gif->Image;
  return {ImageFormat::kGif, std::max<int64_t>(gif->SWidth, int64_t{d.Left} + d.Width),
          std::max<int64_t>(gif->SHeight, int64_t{d.Top} + d.Height)};
}

RgbImage DecodeFrame(GifFileType* gif, int transparent, const DecodeLimits& limits) {
  const GifImageDesc& d = gif->Image;
  const ImageHeader canvas = CanvasOf(gif);
  CheckImageSize("GIF", canvas.width, canvas.height, limits);
  DecodeLimits frame_limits;
  frame_limits.max_pixels = limits.max_pixels;
  CheckImageSize("GIF frame", d.Width, d.Height, frame_limits);
  const int w = static_cast<int>(canvas.width), h = static_cast<int>(canvas.height);
  std::vector<uint8_t> index(static_cast<size_t>(w) * h, transparent >= 0 ? transparent : 0);
  // Interlaced frames arrive in four passes of rows (start, step).
  static constexpr int kStart[4] = {0, 4, 2, 1}, kStep[4] = {8, 8, 4, 2};
  const int passes = d.Interlace ? 4 : 1;
  for (int p = 0; p < passes; ++p) {
    const int start = d.Interlace ? kStart[p] : 0, step = d.Interlace ? kStep[p] : 1;
    for (int y = start; y < d.Height; y += step) {
      uint8_t* row = index.data() + static_cast<size_t>(d.Top + y) * w + d.Left;
      if (DGifGetLine(gif, row, d.Width) == GIF_ERROR) Fail(gif, "image data");
    }
  }
  uint8_t palette[256][3];
  for (int i = 0; i < 256; ++i) palette[i][0] = palette[i][1] = palette[i][2] = i;
  const ColorMapObject* map = d.ColorMap != nullptr ? d.ColorMap : gif->SColorMap;
  if (map != nullptr) {
    for (int i = 0; i < map->ColorCount && i < 256; ++i) {
      palette[i][0] = map->Colors[i].Red;
      palette[i][1] = map->Colors[i].Green;
      palette[i][2] = map->Colors[i].Blue;
    }
  }
  RgbImage img = AllocateRgb(w, h);
  for (size_t i = 0; i < index.size(); ++i) std::memcpy(&img.pixels[3 * i], palette[index[i]], 3);
  return img;
}

}  // namespace

ImageHeader ProbeGif(std::span<const uint8_t> bytes) {
  GifSource src{bytes.data(), bytes.size(), 0};
  const GifPtr gif = OpenGif(&src);
  ReadToFirstFrame(gif.get());
  return CanvasOf(gif.get());
}

RgbImage DecodeGif(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
  GifSource src{bytes.data(), bytes.size(), 0};
  const GifPtr gif = OpenGif(&src);
  const int transparent = ReadToFirstFrame(gif.get());
  return DecodeFrame(gif.get(), transparent, limits);
}

}  // namespace qwenvl::media::detail
