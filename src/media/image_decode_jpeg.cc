// JPEG through libjpeg-turbo, set up as Pillow's JpegDecode does: library defaults (ISLOW DCT,
// fancy upsampling, block smoothing as libjpeg sets it), output in the colour space PIL asks for.
// libjpeg reports fatal errors through error_exit; we longjmp back to the one frame that called
// setjmp. Only C frames (libjpeg's) are skipped, so no C++ destructor is bypassed.
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

// jpeglib.h needs size_t and FILE declared first.
#include <jerror.h>
#include <jpeglib.h>

#include "media/image_decode_formats.h"
#include "util/error.h"

namespace qwenvl::media::detail {
namespace {

struct JpegErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void OnJpegError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings are ignored as PIL ignores them, except running out of data: libjpeg would pad a
// truncated file with grey, PIL reports "image file is truncated".
void OnJpegMessage(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) OnJpegError(cinfo);
}

// PIL's CMYK -> RGB (Convert.c cmyk2rgb) on PIL's CMYK values, which are the inverted ("CMYK;I")
// values libjpeg returns for Adobe files.
inline uint8_t CmykChannel(uint8_t raw_c, uint8_t raw_k) {
  const int nk = raw_k;  // 255 - PIL's K
  const int c = 255 - raw_c;
  const int tmp = c * nk + 128;
  const int v = nk - (((tmp >> 8) + tmp) >> 8);
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

void ConvertRow(const uint8_t* in, int components, int width, uint8_t* out) {
  if (components == 1) {
    for (int x = 0; x < width; ++x) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = in[x];
  } else {
    for (int x = 0; x < width; ++x) {
      const uint8_t* p = in + 4 * x;
      out[3 * x + 0] = CmykChannel(p[0], p[3]);
      out[3 * x + 1] = CmykChannel(p[1], p[3]);
      out[3 * x + 2] = CmykChannel(p[2], p[3]);
    }
  }
}

// All state touched after setjmp lives in `cinfo`, `img` and `row` owned by the caller, so the
// longjmp target only needs to clean them up.
bool DecodeInto(jpeg_decompress_struct* cinfo, std::span<const uint8_t> bytes,
                const DecodeLimits& limits, RgbImage* img, std::vector<uint8_t>* row,
                JpegErrorManager* err, std::optional<Error>* pending) {
  if (setjmp(err->jump)) return false;
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(cinfo, TRUE);
  const int comps = cinfo->num_components;
  if (comps == 1) {
    cinfo->out_color_space = JCS_GRAYSCALE;
  } else if (comps == 3) {
    cinfo->out_color_space = JCS_RGB;
  } else if (comps == 4) {
    cinfo->out_color_space = JCS_CMYK;  // libjpeg turns YCCK into CMYK
  } else {
    *pending = Error(ErrorCode::kUnsupported,
                     "JPEG with " + std::to_string(comps) + " components is not supported");
    return true;
  }
  try {
    CheckImageSize("JPEG", cinfo->image_width, cinfo->image_height, limits);
  } catch (const Error& e) {
    *pending = e;
    return true;
  }
  jpeg_start_decompress(cinfo);
  *img = AllocateRgb(static_cast<int>(cinfo->output_width), static_cast<int>(cinfo->output_height));
  const int w = img->width;
  if (comps != 3) row->resize(static_cast<size_t>(w) * cinfo->output_components);
  while (cinfo->output_scanline < cinfo->output_height) {
    uint8_t* dst = img->pixels.data() + static_cast<size_t>(cinfo->output_scanline) * w * 3;
    JSAMPROW rows[1] = {comps == 3 ? dst : row->data()};
    jpeg_read_scanlines(cinfo, rows, 1);
    if (comps != 3) ConvertRow(row->data(), cinfo->output_components, w, dst);
  }
  jpeg_finish_decompress(cinfo);
  return true;
}

// The markers up to the first scan, as DecodeInto reads them; allocates no pixel or coefficient
// buffer (jpeg_start_decompress would).
bool ReadHeaderInto(jpeg_decompress_struct* cinfo, std::span<const uint8_t> bytes,
                    JpegErrorManager* err) {
  if (setjmp(err->jump)) return false;
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(cinfo, TRUE);
  return true;
}

void InitErrors(jpeg_decompress_struct* cinfo, JpegErrorManager* err) {
  std::memset(cinfo, 0, sizeof(*cinfo));
  cinfo->err = jpeg_std_error(&err->pub);
  err->pub.error_exit = OnJpegError;
  err->pub.emit_message = OnJpegMessage;
  err->message[0] = '\0';
}

}  // namespace

ImageHeader ProbeJpeg(std::span<const uint8_t> bytes) {
  jpeg_decompress_struct cinfo;
  JpegErrorManager err;
  InitErrors(&cinfo, &err);
  const bool ok = ReadHeaderInto(&cinfo, bytes, &err);
  const ImageHeader header{ImageFormat::kJpeg, cinfo.image_width, cinfo.image_height};
  const int comps = cinfo.num_components;
  jpeg_destroy_decompress(&cinfo);
  if (!ok) {
    throw Error(ErrorCode::kCorruptFile, std::string("corrupt or truncated JPEG: ") + err.message);
  }
  if (comps != 1 && comps != 3 && comps != 4) {
    throw Error(ErrorCode::kUnsupported,
                "JPEG with " + std::to_string(comps) + " components is not supported");
  }
  return header;
}

RgbImage DecodeJpeg(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
  jpeg_decompress_struct cinfo;
  JpegErrorManager err;
  InitErrors(&cinfo, &err);
  RgbImage img;
  std::vector<uint8_t> row;
  std::optional<Error> pending;
  const bool ok = DecodeInto(&cinfo, bytes, limits, &img, &row, &err, &pending);
  jpeg_destroy_decompress(&cinfo);
  if (!ok) {
    throw Error(ErrorCode::kCorruptFile, std::string("corrupt or truncated JPEG: ") + err.message);
  }
  if (pending) throw *pending;
  return img;
}

}  // namespace qwenvl::media::detail
