// The video pipeline of model-spec §7 on top of the reader, the sampling rules and the image steps.
#include "media/video_preprocess.h"

#include <algorithm>

#include "media/image_decode.h"
#include "media/preprocessor_config.h"
#include "media/resize_bicubic.h"
#include "media/smart_resize.h"
#include "util/error.h"

namespace qwenvl::media {
namespace {

RgbImage ResizeTo(RgbImage frame, FrameSize size, ThreadPool* pool) {
  if (frame.width == size.width && frame.height == size.height) return frame;
  return ResizeBicubic(frame, size.width, size.height, pool);
}

void FillTiming(PreprocessedVideo& out, int64_t nframes) {
  out.sample_fps = SampleFps(nframes, out.total_frames, out.video_fps);
  out.second_per_grid_ts = SecondPerGridT(out.sample_fps);
}

// One decode pass for `total_frames`: true when every sampled frame arrived.
bool SampleAndDecode(VideoReader& reader, int64_t total_frames, const VideoOptions& options,
                     const PatchifyOptions& patchify, PreprocessedVideo& out,
                     std::vector<RgbImage>& frames) {
  const VideoStreamInfo& info = reader.info();
  const int64_t nframes = SmartNFrames(options, total_frames, info.fps);
  out.frame_indices = SampleFrameIndices(total_frames, nframes);
  const FrameSize size = VideoResizedSize(info.height, info.width, options, nframes);
  out.resized_height = size.height;
  out.resized_width = size.width;
  out.total_frames = total_frames;
  frames.clear();
  frames.reserve(static_cast<size_t>(nframes));
  const int64_t decoded =
      reader.DecodeFrames(out.frame_indices, [&](int64_t /*index*/, RgbImage&& frame) {
        frames.push_back(ResizeTo(std::move(frame), size, patchify.pool));
      });
  if (frames.size() == out.frame_indices.size()) return true;
  out.total_frames = decoded;  // the stream ended early: this is its real length
  return false;
}

PreprocessedVideo PreprocessFromReader(VideoReader& reader, const std::string& name,
                                       const VideoOptions& options,
                                       const PatchifyOptions& patchify) {
  const VideoStreamInfo& info = reader.info();
  PreprocessedVideo out;
  out.orig_width = info.width;
  out.orig_height = info.height;
  out.video_fps = info.fps;
  std::vector<RgbImage> frames;  // the sampled frames, resized
  if (!SampleAndDecode(reader, info.total_frames, options, patchify, out, frames)) {
    // Metadata promised more frames than the stream holds (truncated file, bad nb_frames): sample
    // again from the decoded count, as a reader that counts by decoding (torchvision) would.
    const int64_t decoded = out.total_frames;
    if (!SampleAndDecode(reader, decoded, options, patchify, out, frames)) {
      throw Error(ErrorCode::kCorruptFile,
                  name + ": the video stream decodes differently on a second pass");
    }
  }
  const auto nframes = static_cast<int64_t>(frames.size());
  out.patches = Patchify(frames, patchify);
  FillTiming(out, nframes);
  return out;
}

}  // namespace

Patches PatchifyVideoFrames(std::vector<RgbImage> frames, FrameSize size,
                            const PatchifyOptions& patchify) {
  for (RgbImage& frame : frames) frame = ResizeTo(std::move(frame), size, patchify.pool);
  return Patchify(frames, patchify);
}

PreprocessedVideo PreprocessVideoFile(const std::string& path, const VideoOptions& options,
                                      const PatchifyOptions& patchify, const VideoLimits& limits) {
  VideoReader reader = VideoReader::OpenFile(path, limits);
  return PreprocessFromReader(reader, path, options, patchify);
}

PreprocessedVideo PreprocessVideoMemory(std::span<const uint8_t> data, const std::string& name,
                                        const VideoOptions& options,
                                        const PatchifyOptions& patchify,
                                        const VideoLimits& limits) {
  VideoReader reader = VideoReader::OpenMemory(data, name, limits);
  return PreprocessFromReader(reader, name, options, patchify);
}

PreprocessedVideo PreprocessVideoRgbFrames(std::span<const RgbImage> frames, double video_fps,
                                           const VideoOptions& options,
                                           const PatchifyOptions& patchify) {
  if (frames.empty()) throw Error(ErrorCode::kInvalidArgument, "video has no frames");
  PreprocessedVideo out;
  out.orig_width = frames[0].width;
  out.orig_height = frames[0].height;
  out.total_frames = static_cast<int64_t>(frames.size());
  out.video_fps = video_fps;
  const int64_t nframes = SmartNFrames(options, out.total_frames, video_fps);
  out.frame_indices = SampleFrameIndices(out.total_frames, nframes);
  const FrameSize size = VideoResizedSize(out.orig_height, out.orig_width, options, nframes);
  out.resized_height = size.height;
  out.resized_width = size.width;
  std::vector<RgbImage> sampled;
  sampled.reserve(static_cast<size_t>(nframes));
  for (int64_t index : out.frame_indices) {
    sampled.push_back(ResizeTo(frames[static_cast<size_t>(index)], size, patchify.pool));
  }
  out.patches = Patchify(sampled, patchify);
  FillTiming(out, nframes);
  return out;
}

PreprocessedVideo PreprocessVideoFrames(const std::vector<std::string>& image_paths,
                                        const VideoOptions& options,
                                        const PatchifyOptions& patchify) {
  if (image_paths.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "video frame list is empty, one image at least expected");
  }
  PreprocessedVideo out;
  std::vector<RgbImage> frames;
  frames.reserve(image_paths.size() + 1);
  for (const std::string& path : image_paths) {
    RgbImage image = DecodeImageFile(path);
    ResizedSize rs;
    if (options.resized_height || options.resized_width) {
      // §6.2: a requested size is rounded with the image defaults (and frame lists are images).
      FrameSize fs = VideoResizedSize(image.height, image.width, options, 2);
      rs = {fs.height, fs.width};
    } else {
      rs = SmartResize(image.height, image.width, kVideoSizeFactor,
                       options.min_pixels.value_or(kDefaultMinPixels),
                       options.max_pixels.value_or(kDefaultMaxPixels));
    }
    const FrameSize size{static_cast<int>(rs.height), static_cast<int>(rs.width)};
    if (frames.empty()) {
      out.orig_width = image.width;
      out.orig_height = image.height;
      out.resized_width = size.width;
      out.resized_height = size.height;
    } else if (size.width != out.resized_width || size.height != out.resized_height) {
      throw Error(ErrorCode::kInvalidArgument,
                  path + ": frame resizes to " + std::to_string(size.width) + "x" +
                      std::to_string(size.height) + ", but the first frame of the list to " +
                      std::to_string(out.resized_width) + "x" + std::to_string(out.resized_height) +
                      "; all frames of a video must have one size");
    }
    frames.push_back(ResizeTo(std::move(image), size, patchify.pool));
  }
  out.total_frames = static_cast<int64_t>(frames.size());
  for (int64_t i = 0; i < out.total_frames; ++i) out.frame_indices.push_back(i);
  out.video_fps = options.fps;
  // qwen-vl-utils returns element fps for frame lists, and that becomes the processor's fps.
  out.sample_fps = options.fps;
  out.second_per_grid_ts = SecondPerGridT(out.sample_fps);
  out.patches = Patchify(frames, patchify);  // pads an odd list with its last frame
  return out;
}

}  // namespace qwenvl::media
