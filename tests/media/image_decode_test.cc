#include "media/image_decode.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "media_test_util.h"
#include "util/error.h"

namespace qwenvl::media {
namespace {

using testing::PreprocessData;
using testing::ReadBytes;
using testing::ReadSafetensors;

// Each small file in tests/data/preprocess/decode/ against PIL 9.4's convert("RGB") of it
// (make_pil_cases.py): PNG grey/LA/RGBA/palette/tRNS/1-2-16 bit, JPEG 4:4:4/4:2:0/progressive/
// grey/CMYK, WebP lossy/lossless/alpha, GIF plain/interlaced/transparent/offset frame, BMP 1/4/8/
// 24/32 bit.
TEST(ImageDecode, MatchesPilConvertRgb) {
  const auto expected = ReadSafetensors(PreprocessData("pil_decode.safetensors"));
  ASSERT_EQ(expected.size(), 30u);
  for (const auto& [name, tensor] : expected) {
    SCOPED_TRACE(name);
    RgbImage img;
    ASSERT_NO_THROW(img = DecodeImageFile(PreprocessData("decode/" + name)));
    const RgbImage want = tensor.image();
    ASSERT_EQ(img.width, want.width);
    ASSERT_EQ(img.height, want.height);
    size_t diff = 0;
    for (size_t i = 0; i < want.pixels.size(); ++i) diff += img.pixels[i] != want.pixels[i];
    EXPECT_EQ(diff, 0u);
  }
}

TEST(ImageDecode, SniffsMagicNotExtension) {
  const std::string dir = PreprocessData("photos/");
  EXPECT_EQ(DetectImageFormat(ReadBytes(dir + "cartoon_brave_person.jpeg")), ImageFormat::kWebp);
  EXPECT_EQ(DetectImageFormat(ReadBytes(dir + "multiple_items.png")), ImageFormat::kWebp);
  EXPECT_EQ(DetectImageFormat(ReadBytes(dir + "unireco_bird_example.jpg")), ImageFormat::kPng);
  EXPECT_EQ(DetectImageFormat(ReadBytes(dir + "computer_use2.jpeg")), ImageFormat::kJpeg);
  const RgbImage img = DecodeImageFile(dir + "multiple_items.png");
  EXPECT_EQ(img.width, 640);
  EXPECT_EQ(img.height, 465);
}

ErrorCode CodeOf(const std::vector<uint8_t>& bytes, const DecodeLimits& limits = {}) {
  try {
    DecodeImage(bytes, limits);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()), "");
    return e.code();
  }
  ADD_FAILURE() << "expected an Error";
  return ErrorCode::kInternal;
}

TEST(ImageDecode, EmptyAndUnknown) {
  EXPECT_EQ(CodeOf({}), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf({'h', 'e', 'l', 'l', 'o'}), ErrorCode::kUnsupported);
  EXPECT_EQ(CodeOf({0xFF, 0xD8}), ErrorCode::kUnsupported);  // too short for any magic
  try {
    DecodeImageFile(PreprocessData("does_not_exist.png"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("does_not_exist.png"), std::string::npos);
  }
}

const char* kSamples[] = {"rgb.png",   "palette4.png", "q90.jpg",    "progressive.jpg",
                          "cmyk.jpg",  "lossy.webp",   "pal.gif",    "interlaced.gif",
                          "rgb24.bmp", "pal8.bmp",     "gray16.png", "lossless_alpha.webp"};

TEST(ImageDecode, TruncatedFilesFail) {
  for (const char* name : kSamples) {
    SCOPED_TRACE(name);
    const std::vector<uint8_t> full = ReadBytes(PreprocessData(std::string("decode/") + name));
    for (size_t keep : {size_t{0} + 8, full.size() / 4, full.size() / 2, full.size() * 3 / 4}) {
      std::vector<uint8_t> cut(full.begin(), full.begin() + keep);
      const ErrorCode code = CodeOf(cut);
      EXPECT_TRUE(code == ErrorCode::kCorruptFile || code == ErrorCode::kUnsupported) << keep;
    }
  }
}

// Flipped bytes anywhere: either a picture or an Error, never a crash (ASan/UBSan builds check
// memory safety too).
TEST(ImageDecode, CorruptFilesNeverCrash) {
  for (const char* name : kSamples) {
    const std::vector<uint8_t> full = ReadBytes(PreprocessData(std::string("decode/") + name));
    for (size_t at = 4; at < full.size(); at += 1 + full.size() / 37) {
      std::vector<uint8_t> bad = full;
      bad[at] ^= 0x5A;
      bad[at / 2 + 2] = 0xFF;
      try {
        const RgbImage img = DecodeImage(bad);
        EXPECT_EQ(img.pixels.size(), size_t(img.width) * img.height * 3);
      } catch (const Error&) {
      }
    }
  }
}

TEST(ImageDecode, PixelLimitCheckedFromHeader) {
  DecodeLimits small;
  small.max_pixels = 100;
  for (const char* name : kSamples) {
    SCOPED_TRACE(name);
    EXPECT_EQ(CodeOf(ReadBytes(PreprocessData(std::string("decode/") + name)), small),
              ErrorCode::kOutOfRange);
  }
  // A PNG header claiming 60000 x 60000 with almost no data: refused before any allocation.
  std::vector<uint8_t> png = ReadBytes(PreprocessData("decode/rgb.png"));
  for (int i : {16, 20}) {  // IHDR width, height (big endian); CRC now wrong, so fix it up below
    png[i] = 0, png[i + 1] = 0, png[i + 2] = 0xEA, png[i + 3] = 0x60;
  }
  uint32_t crc = 0xFFFFFFFFu;
  for (int i = 12; i < 29; ++i) {
    crc ^= png[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
  }
  crc ^= 0xFFFFFFFFu;
  png[29] = crc >> 24, png[30] = crc >> 16, png[31] = crc >> 8, png[32] = crc;
  EXPECT_EQ(CodeOf(png), ErrorCode::kOutOfRange);
}

TEST(ImageDecode, ZeroSizedImagesFail) {
  std::vector<uint8_t> bmp = ReadBytes(PreprocessData("decode/rgb24.bmp"));
  bmp[18] = bmp[19] = bmp[20] = bmp[21] = 0;  // width 0
  EXPECT_EQ(CodeOf(bmp), ErrorCode::kCorruptFile);
  std::vector<uint8_t> gif = ReadBytes(PreprocessData("decode/gif_offset_frame.gif"));
  gif[6] = gif[7] = gif[8] = gif[9] = 0;            // screen 0x0
  gif[13 + 12 + 8 + 5] = gif[13 + 12 + 8 + 6] = 0;  // frame width 0
  EXPECT_EQ(CodeOf(gif), ErrorCode::kCorruptFile);
  std::vector<uint8_t> png = ReadBytes(PreprocessData("decode/rgb.png"));
  png[16] = png[17] = png[18] = png[19] = 0;  // IHDR width 0 (libpng rejects it)
  EXPECT_EQ(CodeOf(png), ErrorCode::kCorruptFile);
}

TEST(ImageDecode, UnsupportedBmpVariantIsClear) {
  std::vector<uint8_t> bmp = ReadBytes(PreprocessData("decode/pal8.bmp"));
  bmp[30] = 1;  // BI_RLE8
  try {
    DecodeImage(bmp);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("compressed BMP"), std::string::npos);
  }
}

}  // namespace
}  // namespace qwenvl::media
