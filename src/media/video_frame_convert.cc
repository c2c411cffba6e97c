// swscale conversion of decoded frames to RGB24.
//
// Flags: SWS_BICUBIC, nothing else. decord converts through an FFmpeg filter graph whose scale
// filter defaults to bicubic; torchvision (PyAV `to_ndarray(format="rgb24")`) and torchcodec use
// bilinear. With no scaling the filter is never used: for 4:2:0/4:2:2 input of even height swscale
// takes its unscaled yuv2rgb converter in both cases, so the flags give the same bytes.
// SWS_ACCURATE_RND or SWS_FULL_CHR_H_INT would leave that path (interpolated chroma, other
// rounding) and differ from all three readers, so they are not set. The YUV matrix and range follow
// the frame's metadata as the scale filter's "auto" mode does (unspecified: BT.601, limited range;
// yuvj* formats: full range).
#include "media/video_frame_convert.h"

extern "C" {
#include <libavutil/frame.h>
#include <libavutil/mem.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <cstring>
#include <memory>

#include "util/error.h"

namespace qwenvl::media {
namespace {

bool IsYuv(AVPixelFormat format) {
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(format);
  return desc != nullptr && !(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3;
}

// Frames whose matrix or range differ from swscale's defaults (BT.601 limited, or the full range
// the yuvj* formats imply) get their own coefficients.
void ApplyColorDetails(SwsContext* sws, const AVFrame& frame) {
  const auto format = static_cast<AVPixelFormat>(frame.format);
  if (!IsYuv(format)) return;
  const bool default_matrix = frame.colorspace == AVCOL_SPC_UNSPECIFIED ||
                              frame.colorspace == AVCOL_SPC_BT470BG ||
                              frame.colorspace == AVCOL_SPC_SMPTE170M;
  const bool full_range = frame.color_range == AVCOL_RANGE_JPEG;
  if (default_matrix && !full_range) return;
  int* inv_table = nullptr;
  int* table = nullptr;
  int src_range = 0, dst_range = 0, brightness = 0, contrast = 0, saturation = 0;
  if (sws_getColorspaceDetails(sws, &inv_table, &src_range, &table, &dst_range, &brightness,
                               &contrast, &saturation) < 0) {
    return;
  }
  sws_setColorspaceDetails(sws, sws_getCoefficients(frame.colorspace), full_range ? 1 : src_range,
                           table, dst_range, brightness, contrast, saturation);
}

struct AvFreeDeleter {
  void operator()(uint8_t* p) const { av_free(p); }
};

}  // namespace

VideoFrameConverter::~VideoFrameConverter() { sws_freeContext(sws_); }

void VideoFrameConverter::Prepare(const AVFrame& frame) {
  if (sws_ != nullptr && frame.width == width_ && frame.height == height_ &&
      frame.format == format_ && frame.colorspace == colorspace_ && frame.color_range == range_) {
    return;
  }
  sws_freeContext(sws_);
  sws_ = nullptr;
  const auto format = static_cast<AVPixelFormat>(frame.format);
  if (format == AV_PIX_FMT_NONE || !sws_isSupportedInput(format)) {
    const char* fmt_name = av_get_pix_fmt_name(format);
    throw Error(ErrorCode::kUnsupported, name_ + ": pixel format " +
                                             (fmt_name ? fmt_name : "(none)") +
                                             " cannot be converted to RGB");
  }
  sws_ = sws_getContext(frame.width, frame.height, format, frame.width, frame.height,
                        AV_PIX_FMT_RGB24, SWS_BICUBIC, nullptr, nullptr, nullptr);
  if (sws_ == nullptr) {
    throw Error(ErrorCode::kUnsupported,
                name_ + ": swscale refused a " + std::to_string(frame.width) + "x" +
                    std::to_string(frame.height) + " " + av_get_pix_fmt_name(format) + " frame");
  }
  ApplyColorDetails(sws_, frame);
  width_ = frame.width;
  height_ = frame.height;
  format_ = frame.format;
  colorspace_ = frame.colorspace;
  range_ = frame.color_range;
}

RgbImage VideoFrameConverter::ToRgb(const AVFrame& frame) {
  if (frame.width <= 0 || frame.height <= 0 || frame.data[0] == nullptr) {
    throw Error(ErrorCode::kCorruptFile, name_ + ": decoder returned a frame without pixels");
  }
  Prepare(frame);
  // swscale writes into a 64-byte aligned buffer, as the readers' AVFrames are, then rows are
  // packed.
  const int row_bytes = frame.width * 3;
  const int stride = (row_bytes + 63) / 64 * 64;
  std::unique_ptr<uint8_t, AvFreeDeleter> buffer(
      static_cast<uint8_t*>(av_malloc(static_cast<size_t>(stride) * frame.height)));
  if (!buffer) throw Error(ErrorCode::kOutOfRange, name_ + ": out of memory converting a frame");
  uint8_t* dst[4] = {buffer.get(), nullptr, nullptr, nullptr};
  int dst_stride[4] = {stride, 0, 0, 0};
  const int rows = sws_scale(sws_, frame.data, frame.linesize, 0, frame.height, dst, dst_stride);
  if (rows != frame.height) {
    throw Error(ErrorCode::kCorruptFile, name_ + ": swscale converted " + std::to_string(rows) +
                                             " of " + std::to_string(frame.height) + " rows");
  }
  RgbImage image;
  image.width = frame.width;
  image.height = frame.height;
  image.pixels.resize(static_cast<size_t>(row_bytes) * frame.height);
  for (int y = 0; y < frame.height; ++y) {
    std::memcpy(image.pixels.data() + static_cast<size_t>(y) * row_bytes,
                buffer.get() + static_cast<size_t>(y) * stride, static_cast<size_t>(row_bytes));
  }
  return image;
}

}  // namespace qwenvl::media
