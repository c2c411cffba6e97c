// Reading a picture's size from its header (ProbeImage) against what the decoder produces, on the
// fixture files of every format and on pictures generated here with each format's own encoder.
#include "media/image_probe.h"

#include <gif_lib.h>
#include <gtest/gtest.h>
#include <jpeglib.h>
#include <unistd.h>
#include <webp/encode.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "crafted_images.h"
#include "media/image_decode.h"
#include "media_test_util.h"
#include "util/error.h"

namespace qwenvl::media {
namespace {

using testing::PreprocessData;
using testing::ReadBytes;

struct Sample {
  std::string name;
  std::vector<uint8_t> bytes;
};

// The header's size and format must be exactly what decoding gives.
void ExpectProbeMatchesDecode(const Sample& s) {
  SCOPED_TRACE(s.name);
  const RgbImage img = DecodeImage(s.bytes);
  const ImageHeader header = ProbeImage(s.bytes);
  EXPECT_EQ(header.format, DetectImageFormat(s.bytes));
  EXPECT_EQ(header.width, img.width);
  EXPECT_EQ(header.height, img.height);
  // The decoder told to expect the probed size agrees.
  DecodeLimits expect;
  expect.expected_width = header.width;
  expect.expected_height = header.height;
  EXPECT_NO_THROW(DecodeImage(s.bytes, expect));
}

std::vector<Sample> FixtureFiles() {
  std::vector<Sample> out;
  for (const char* dir : {"decode", "photos"}) {
    for (const auto& entry : std::filesystem::directory_iterator(PreprocessData(dir))) {
      if (entry.path().extension() == ".md") continue;
      out.push_back({entry.path().filename().string(), ReadBytes(entry.path().string())});
    }
  }
  return out;
}

std::vector<uint8_t> MakeJpeg(int width, int height, int components, bool progressive,
                              size_t app_bytes = 0) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buffer, &size);
  c.image_width = static_cast<JDIMENSION>(width);
  c.image_height = static_cast<JDIMENSION>(height);
  c.input_components = components;
  c.in_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  if (app_bytes > 0) {  // a large APP1 segment before the frame header
    const std::vector<JOCTET> app(app_bytes, 0x5A);
    jpeg_write_marker(&c, JPEG_APP0 + 1, app.data(), static_cast<unsigned>(app.size()));
  }
  std::vector<JSAMPLE> row(static_cast<size_t>(width) * components);
  for (int y = 0; y < height; ++y) {
    for (size_t i = 0; i < row.size(); ++i) row[i] = static_cast<JSAMPLE>(i * 7 + y * 3);
    JSAMPROW rows[1] = {row.data()};
    jpeg_write_scanlines(&c, rows, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::vector<uint8_t> out(buffer, buffer + size);
  std::free(buffer);
  return out;
}

enum class WebpKind { kLossy, kLossless, kLossyAlpha };

std::vector<uint8_t> MakeWebp(int width, int height, WebpKind kind) {
  const int channels = kind == WebpKind::kLossyAlpha ? 4 : 3;
  std::vector<uint8_t> pixels(static_cast<size_t>(width) * height * channels);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 13);
  uint8_t* out = nullptr;
  size_t size = 0;
  switch (kind) {
    case WebpKind::kLossy:
      size = WebPEncodeRGB(pixels.data(), width, height, width * 3, 80, &out);
      break;
    case WebpKind::kLossless:
      size = WebPEncodeLosslessRGB(pixels.data(), width, height, width * 3, &out);
      break;
    case WebpKind::kLossyAlpha:  // alpha makes libwebp write the extended (VP8X) layout
      size = WebPEncodeRGBA(pixels.data(), width, height, width * 4, 80, &out);
      break;
  }
  std::vector<uint8_t> bytes(out, out + size);
  WebPFree(out);
  return bytes;
}

int AppendGifBytes(GifFileType* gif, const GifByteType* data, int n) {
  auto* out = static_cast<std::vector<uint8_t>*>(gif->UserData);
  out->insert(out->end(), data, data + n);
  return n;
}

// A GIF whose first frame, placed at (left, top), may stick out of the logical screen.
std::vector<uint8_t> MakeGif(int screen_w, int screen_h, int left, int top, int w, int h) {
  std::vector<uint8_t> out;
  int err = 0;
  GifFileType* gif = EGifOpen(&out, AppendGifBytes, &err);
  EXPECT_NE(gif, nullptr);
  const GifColorType colors[2] = {{0, 0, 0}, {255, 255, 255}};
  ColorMapObject* map = GifMakeMapObject(2, colors);
  EGifPutScreenDesc(gif, screen_w, screen_h, 1, 0, map);
  EGifPutImageDesc(gif, left, top, w, h, false, nullptr);
  std::vector<GifPixelType> line(static_cast<size_t>(w));
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x)
      line[static_cast<size_t>(x)] = static_cast<GifPixelType>((x + y) & 1);
    EGifPutLine(gif, line.data(), w);
  }
  EGifCloseFile(gif, &err);
  GifFreeMapObject(map);
  return out;
}

// 24-bit BMP; a negative height stores the rows top-down.
std::vector<uint8_t> MakeBmp(int width, int height) {
  const int rows = height < 0 ? -height : height;
  const int stride = (width * 3 + 3) / 4 * 4;
  const uint32_t data_size = static_cast<uint32_t>(stride * rows);
  std::vector<uint8_t> b(54 + data_size, 0);
  auto put32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
  };
  b[0] = 'B', b[1] = 'M';
  put32(2, static_cast<uint32_t>(b.size()));
  put32(10, 54);
  put32(14, 40);
  put32(18, static_cast<uint32_t>(width));
  put32(22, static_cast<uint32_t>(height));
  b[26] = 1;
  b[28] = 24;
  put32(34, data_size);
  for (size_t i = 54; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i);
  return b;
}

std::vector<Sample> GeneratedPictures() {
  std::vector<Sample> out;
  const auto fill = [](int y, uint8_t* row) { row[0] = static_cast<uint8_t>(y); };
  for (auto [w, h] : {std::pair{1, 1}, {37, 5}, {3, 301}}) {
    const std::string size = std::to_string(w) + "x" + std::to_string(h);
    out.push_back({"gray1 " + size, testing::MakePng(w, h, 1, PNG_COLOR_TYPE_GRAY, fill)});
    out.push_back({"gray16 " + size, testing::MakePng(w, h, 16, PNG_COLOR_TYPE_GRAY, fill)});
    out.push_back({"rgb8 " + size, testing::MakePng(w, h, 8, PNG_COLOR_TYPE_RGB, fill)});
    out.push_back({"rgba16 interlaced " + size,
                   testing::MakePng(w, h, 16, PNG_COLOR_TYPE_RGB_ALPHA, fill, true)});
    out.push_back({"palette2 " + size, testing::MakePng(w, h, 2, PNG_COLOR_TYPE_PALETTE, fill)});
    out.push_back({"jpeg gray " + size, MakeJpeg(w, h, 1, false)});
    out.push_back({"jpeg rgb progressive " + size, MakeJpeg(w, h, 3, true)});
    out.push_back({"webp lossy " + size, MakeWebp(w, h, WebpKind::kLossy)});
    out.push_back({"webp lossless " + size, MakeWebp(w, h, WebpKind::kLossless)});
    out.push_back({"webp vp8x " + size, MakeWebp(w, h, WebpKind::kLossyAlpha)});
    out.push_back({"bmp bottom-up " + size, MakeBmp(w, h)});
    out.push_back({"bmp top-down " + size, MakeBmp(w, -h)});
    out.push_back({"gif " + size, MakeGif(w, h, 0, 0, w, h)});
  }
  out.push_back({"jpeg after a 60000-byte APP1", MakeJpeg(640, 3, 3, false, 60000)});
  out.push_back({"gif frame past the screen", MakeGif(10, 10, 8, 6, 5, 7)});  // canvas 13x13
  return out;
}

TEST(ImageProbe, FixturesGiveTheDecodedSize) {
  const std::vector<Sample> files = FixtureFiles();
  ASSERT_GE(files.size(), 37u);  // 30 format variants and 7 photos
  for (const Sample& s : files) ExpectProbeMatchesDecode(s);
}

TEST(ImageProbe, GeneratedPicturesGiveTheDecodedSize) {
  for (const Sample& s : GeneratedPictures()) ExpectProbeMatchesDecode(s);
  const ImageHeader canvas = ProbeImage(MakeGif(10, 10, 8, 6, 5, 7));
  EXPECT_EQ(canvas.width, 13);
  EXPECT_EQ(canvas.height, 13);
}

TEST(ImageProbe, ReadsHugeHeadersWithoutThePixels) {
  // 3584x3584 at 1 bit is about 1.6 KB; only its IHDR is read.
  const std::vector<uint8_t> png = testing::BilevelPng(3584, 3584);
  EXPECT_LT(png.size(), 4096u);
  const ImageHeader header = ProbeImage(png);
  EXPECT_EQ(header.width, 3584);
  EXPECT_EQ(header.height, 3584);
  EXPECT_EQ(ProbeImage(testing::HeaderOnly(png)).width, 3584);
  // A 30000x30000 header is refused by the pixel limit, from the header alone.
  const std::vector<uint8_t> bomb = testing::HeaderOnly(testing::BilevelPng(30000, 1));
  std::vector<uint8_t> tall = bomb;
  tall[20] = 0, tall[21] = 0, tall[22] = 0x75, tall[23] = 0x30;  // IHDR height 30000
  try {
    ProbeImage(tall);
    FAIL() << "a 30000x30000 header was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
    EXPECT_NE(std::string(e.what()).find("30000x30000"), std::string::npos) << e.what();
  }
  DecodeLimits small;
  small.max_pixels = 100;
  EXPECT_THROW(ProbeImage(ReadBytes(PreprocessData("decode/q90.jpg")), small), Error);
}

TEST(ImageProbe, TruncatedHeadersFailOrGiveTheFullSize) {
  // Every prefix either fails with an Error or already holds the whole header; never another size.
  std::vector<Sample> samples;
  for (const char* name : {"rgb.png", "q90.jpg", "progressive.jpg", "lossy.webp",
                           "lossless_alpha.webp", "lossy_alpha.webp", "gif_offset_frame.gif",
                           "interlaced.gif", "rgb24.bmp", "rgba32.bmp", "pal4.bmp"}) {
    samples.push_back({name, ReadBytes(PreprocessData(std::string("decode/") + name))});
  }
  samples.push_back({"jpeg after APP1", MakeJpeg(33, 9, 3, false, 3000)});
  for (const Sample& s : samples) {
    SCOPED_TRACE(s.name);
    const ImageHeader full = ProbeImage(s.bytes);
    const size_t limit = std::min<size_t>(s.bytes.size(), 4096);
    for (size_t n = 1; n < limit; ++n) {
      const std::vector<uint8_t> prefix(s.bytes.begin(), s.bytes.begin() + n);
      try {
        const ImageHeader h = ProbeImage(prefix);
        ASSERT_EQ(h.width, full.width) << n << " bytes";
        ASSERT_EQ(h.height, full.height) << n << " bytes";
      } catch (const Error& e) {
        ASSERT_NE(e.code(), ErrorCode::kInternal) << n << " bytes";
      }
    }
  }
}

TEST(ImageProbe, DecoderRefusesAnotherSizeThanTheProbe) {
  const std::vector<uint8_t> png = ReadBytes(PreprocessData("decode/rgb.png"));  // 31x23
  DecodeLimits limits;
  limits.expected_width = 31;
  limits.expected_height = 22;
  try {
    DecodeImage(png, limits);
    FAIL() << "decoded a size other than the expected one";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruptFile);
    EXPECT_NE(std::string(e.what()).find("31x23"), std::string::npos) << e.what();
  }
}

TEST(ImageProbe, FileErrorsNameThePath) {
  const std::string missing = PreprocessData("does_not_exist.png");
  EXPECT_THROW(ProbeImageFile(missing), Error);
  const std::string path =
      (std::filesystem::temp_directory_path() / ("qwenvl_probe_" + std::to_string(getpid())))
          .string();
  testing::WriteBytes(path, {'n', 'o', 'p', 'e'});
  try {
    ProbeImageFile(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
  std::filesystem::remove(path);
  EXPECT_EQ(ProbeImageFile(PreprocessData("photos/computer_use2.jpeg")).format, ImageFormat::kJpeg);
}

}  // namespace
}  // namespace qwenvl::media
