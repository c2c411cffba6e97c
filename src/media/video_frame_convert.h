// Converting decoded FFmpeg frames (any pixel format) to 8-bit RGB with swscale, without scaling,
// so that the bytes equal what decord and torchvision/PyAV hand to qwen-vl-utils (model-spec §7).
#pragma once

#include <string>

#include "media/image.h"

struct AVFrame;
struct SwsContext;

namespace qwenvl::media {

class VideoFrameConverter {
 public:
  explicit VideoFrameConverter(std::string name) : name_(std::move(name)) {}
  ~VideoFrameConverter();
  VideoFrameConverter(const VideoFrameConverter&) = delete;
  VideoFrameConverter& operator=(const VideoFrameConverter&) = delete;

  // Same width and height as the frame. Throws Error(kUnsupported) for a pixel format swscale
  // cannot read, Error(kCorruptFile) for a frame without size.
  RgbImage ToRgb(const AVFrame& frame);

 private:
  void Prepare(const AVFrame& frame);

  std::string name_;  // the video, for messages
  SwsContext* sws_ = nullptr;
  // What sws_ was made for.
  int width_ = 0;
  int height_ = 0;
  int format_ = -1;
  int colorspace_ = -1;
  int range_ = -1;
};

}  // namespace qwenvl::media
