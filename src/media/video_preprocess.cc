// The video pipeline of model-spec §7 on top of the reader, the sampling rules and the image steps.
#include "media/video_preprocess.h"

#include <algorithm>

#include "media/image_decode.h"
#include "media/image_probe.h"
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

VideoPlan PlanFromInfo(const VideoStreamInfo& info, int64_t total_frames,
                       const VideoOptions& options) {
  VideoPlan plan;
  plan.orig_width = info.width;
  plan.orig_height = info.height;
  plan.total_frames = total_frames;
  plan.nframes = SmartNFrames(options, total_frames, info.fps);
  plan.resized = VideoResizedSize(info.height, info.width, options, plan.nframes);
  return plan;
}

// Gathers resized frames into temporal patches and hands each on when full; Finish pads the last
// one (an odd frame list) by repeating its last frame, as Patchify pads a whole list.
class SliceBuilder {
 public:
  SliceBuilder(const PatchifyOptions& patchify, const VideoSliceCallback& on_slice)
      : patchify_(patchify), on_slice_(on_slice) {
    frames_.reserve(static_cast<size_t>(std::max(patchify.temporal_patch, 1)));
  }
  void Reset() {
    frames_.clear();
    slices_ = 0;
    frames_in_ = 0;
  }
  void Add(RgbImage&& frame) {
    frames_.push_back(std::move(frame));
    ++frames_in_;
    if (static_cast<int>(frames_.size()) == patchify_.temporal_patch) Emit();
  }
  void Finish() {
    if (!frames_.empty()) Emit();
  }
  int64_t slices() const { return slices_; }
  int64_t frames_in() const { return frames_in_; }
  int64_t grid_h() const { return grid_h_; }
  int64_t grid_w() const { return grid_w_; }

 private:
  void Emit() {
    VideoSlice slice{.t = slices_, .patches = Patchify(frames_, patchify_)};
    grid_h_ = slice.patches.grid_h;
    grid_w_ = slice.patches.grid_w;
    frames_.clear();
    ++slices_;
    on_slice_(std::move(slice));
  }

  const PatchifyOptions& patchify_;
  const VideoSliceCallback& on_slice_;
  std::vector<RgbImage> frames_;
  int64_t slices_ = 0;
  int64_t frames_in_ = 0;
  int64_t grid_h_ = 0;
  int64_t grid_w_ = 0;
};

void FinishGrid(PreprocessedVideo& out, const SliceBuilder& slices) {
  out.patches.values.clear();
  out.patches.grid_t = slices.slices();
  out.patches.grid_h = slices.grid_h();
  out.patches.grid_w = slices.grid_w();
}

// One decode pass for `total_frames`: true when every sampled frame arrived.
bool SampleAndDecode(VideoReader& reader, const std::string& name, int64_t total_frames,
                     const VideoOptions& options, const PatchifyOptions& patchify,
                     const VideoPlanCheck& before_decode, PreprocessedVideo& out,
                     SliceBuilder& slices) {
  const VideoStreamInfo& info = reader.info();
  const VideoPlan plan = PlanFromInfo(info, total_frames, options);
  if (before_decode) before_decode(plan);
  const FrameSize size = plan.resized;
  out.frame_indices = SampleFrameIndices(total_frames, plan.nframes);
  out.resized_height = size.height;
  out.resized_width = size.width;
  out.total_frames = total_frames;
  slices.Reset();
  const int64_t header_pixels = int64_t{info.width} * info.height;
  const int64_t decoded =
      reader.DecodeFrames(out.frame_indices, [&](int64_t index, RgbImage&& frame) {
        if (int64_t{frame.width} * frame.height > header_pixels) {
          throw Error(ErrorCode::kCorruptFile,
                      name + ": frame " + std::to_string(index) + " decodes to " +
                          std::to_string(frame.width) + "x" + std::to_string(frame.height) +
                          ", larger than the stream's " + std::to_string(info.width) + "x" +
                          std::to_string(info.height));
        }
        slices.Add(ResizeTo(std::move(frame), size, patchify.pool));
      });
  if (slices.frames_in() == static_cast<int64_t>(out.frame_indices.size())) {
    slices.Finish();
    return true;
  }
  out.total_frames = decoded;  // the stream ended early: this is its real length
  return false;
}

PreprocessedVideo StreamFromReader(VideoReader& reader, const std::string& name,
                                   const VideoOptions& options, const PatchifyOptions& patchify,
                                   const VideoPlanCheck& before_decode,
                                   const VideoSliceCallback& on_slice) {
  const VideoStreamInfo& info = reader.info();
  PreprocessedVideo out;
  out.orig_width = info.width;
  out.orig_height = info.height;
  out.video_fps = info.fps;
  SliceBuilder slices(patchify, on_slice);
  if (!SampleAndDecode(reader, name, info.total_frames, options, patchify, before_decode, out,
                       slices)) {
    // Metadata promised more frames than the stream holds (truncated file, bad nb_frames): sample
    // again from the decoded count, as a reader that counts by decoding (torchvision) would.
    const int64_t decoded = out.total_frames;
    if (!SampleAndDecode(reader, name, decoded, options, patchify, before_decode, out, slices)) {
      throw Error(ErrorCode::kCorruptFile,
                  name + ": the video stream decodes differently on a second pass");
    }
  }
  FinishGrid(out, slices);
  FillTiming(out, slices.frames_in());
  return out;
}

// The whole-clip result from a stream: the slices' rows one after the other.
template <class StreamFn>
PreprocessedVideo Collect(const VideoPlanCheck& before_decode, StreamFn&& stream) {
  std::vector<float> values;
  const VideoPlanCheck restart = [&](const VideoPlan& plan) {
    values.clear();  // a second pass starts over
    if (before_decode) before_decode(plan);
  };
  PreprocessedVideo out = stream(restart, [&](VideoSlice&& slice) {
    if (values.empty()) {
      values = std::move(slice.patches.values);
    } else {
      values.insert(values.end(), slice.patches.values.begin(), slice.patches.values.end());
    }
  });
  out.patches.values = std::move(values);
  return out;
}

// §6.2 for one image of a frame list: the image path's smart_resize, or a requested size rounded
// with the image defaults (frame lists are images).
FrameSize FrameListSize(int64_t height, int64_t width, const VideoOptions& options) {
  if (options.resized_height || options.resized_width) {
    return VideoResizedSize(static_cast<int>(height), static_cast<int>(width), options, 2);
  }
  const ResizedSize rs =
      SmartResize(height, width, kVideoSizeFactor, options.min_pixels.value_or(kDefaultMinPixels),
                  options.max_pixels.value_or(kDefaultMaxPixels));
  return {static_cast<int>(rs.height), static_cast<int>(rs.width)};
}

// Every image's header, and the plan they make; refuses a list whose images resize to different
// sizes before any of them is decoded.
VideoPlan PlanFrameList(const std::vector<std::string>& image_paths, const VideoOptions& options,
                        const DecodeLimits& limits, std::vector<ImageHeader>* headers) {
  if (image_paths.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "video frame list is empty, one image at least expected");
  }
  VideoPlan plan;
  headers->clear();
  headers->reserve(image_paths.size());
  for (const std::string& path : image_paths) {
    const ImageHeader header = ProbeImageFile(path, limits);
    const FrameSize size = FrameListSize(header.height, header.width, options);
    if (headers->empty()) {
      plan.orig_width = static_cast<int>(header.width);
      plan.orig_height = static_cast<int>(header.height);
      plan.resized = size;
    } else if (size.width != plan.resized.width || size.height != plan.resized.height) {
      throw Error(ErrorCode::kInvalidArgument,
                  path + ": frame resizes to " + std::to_string(size.width) + "x" +
                      std::to_string(size.height) + ", but the first frame of the list to " +
                      std::to_string(plan.resized.width) + "x" +
                      std::to_string(plan.resized.height) +
                      "; all frames of a video must have one size");
    }
    headers->push_back(header);
  }
  plan.total_frames = static_cast<int64_t>(image_paths.size());
  plan.nframes = plan.total_frames;
  return plan;
}

}  // namespace

Patches PatchifyVideoFrames(std::vector<RgbImage> frames, FrameSize size,
                            const PatchifyOptions& patchify) {
  for (RgbImage& frame : frames) frame = ResizeTo(std::move(frame), size, patchify.pool);
  return Patchify(frames, patchify);
}

VideoPlan PlanVideoFile(const std::string& path, const VideoOptions& options,
                        const VideoLimits& limits) {
  const VideoReader reader = VideoReader::OpenFile(path, limits);
  return PlanFromInfo(reader.info(), reader.info().total_frames, options);
}

VideoPlan PlanVideoMemory(std::span<const uint8_t> data, const std::string& name,
                          const VideoOptions& options, const VideoLimits& limits) {
  const VideoReader reader = VideoReader::OpenMemory(data, name, limits);
  return PlanFromInfo(reader.info(), reader.info().total_frames, options);
}

VideoPlan PlanVideoFrames(const std::vector<std::string>& image_paths, const VideoOptions& options,
                          const DecodeLimits& limits) {
  std::vector<ImageHeader> headers;
  return PlanFrameList(image_paths, options, limits, &headers);
}

PreprocessedVideo StreamVideoFile(const std::string& path, const VideoOptions& options,
                                  const PatchifyOptions& patchify, const VideoLimits& limits,
                                  const VideoPlanCheck& before_decode,
                                  const VideoSliceCallback& on_slice) {
  VideoReader reader = VideoReader::OpenFile(path, limits);
  return StreamFromReader(reader, path, options, patchify, before_decode, on_slice);
}

PreprocessedVideo StreamVideoMemory(std::span<const uint8_t> data, const std::string& name,
                                    const VideoOptions& options, const PatchifyOptions& patchify,
                                    const VideoLimits& limits, const VideoPlanCheck& before_decode,
                                    const VideoSliceCallback& on_slice) {
  VideoReader reader = VideoReader::OpenMemory(data, name, limits);
  return StreamFromReader(reader, name, options, patchify, before_decode, on_slice);
}

PreprocessedVideo PreprocessVideoFile(const std::string& path, const VideoOptions& options,
                                      const PatchifyOptions& patchify, const VideoLimits& limits,
                                      const VideoPlanCheck& before_decode) {
  return Collect(before_decode, [&](const VideoPlanCheck& check, const VideoSliceCallback& sink) {
    return StreamVideoFile(path, options, patchify, limits, check, sink);
  });
}

PreprocessedVideo PreprocessVideoMemory(std::span<const uint8_t> data, const std::string& name,
                                        const VideoOptions& options,
                                        const PatchifyOptions& patchify, const VideoLimits& limits,
                                        const VideoPlanCheck& before_decode) {
  return Collect(before_decode, [&](const VideoPlanCheck& check, const VideoSliceCallback& sink) {
    return StreamVideoMemory(data, name, options, patchify, limits, check, sink);
  });
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

PreprocessedVideo StreamVideoFrames(const std::vector<std::string>& image_paths,
                                    const VideoOptions& options, const PatchifyOptions& patchify,
                                    const DecodeLimits& limits, const VideoPlanCheck& before_decode,
                                    const VideoSliceCallback& on_slice) {
  std::vector<ImageHeader> headers;
  const VideoPlan plan = PlanFrameList(image_paths, options, limits, &headers);
  if (before_decode) before_decode(plan);
  PreprocessedVideo out;
  out.orig_width = plan.orig_width;
  out.orig_height = plan.orig_height;
  out.resized_width = plan.resized.width;
  out.resized_height = plan.resized.height;
  SliceBuilder slices(patchify, on_slice);
  for (size_t i = 0; i < image_paths.size(); ++i) {
    DecodeLimits frame_limits = limits;
    frame_limits.expected_width = headers[i].width;
    frame_limits.expected_height = headers[i].height;
    slices.Add(
        ResizeTo(DecodeImageFile(image_paths[i], frame_limits), plan.resized, patchify.pool));
  }
  slices.Finish();  // pads an odd list with its last frame
  out.total_frames = slices.frames_in();
  for (int64_t i = 0; i < out.total_frames; ++i) out.frame_indices.push_back(i);
  out.video_fps = options.fps;
  // qwen-vl-utils returns element fps for frame lists, and that becomes the processor's fps.
  out.sample_fps = options.fps;
  out.second_per_grid_ts = SecondPerGridT(out.sample_fps);
  FinishGrid(out, slices);
  return out;
}

PreprocessedVideo PreprocessVideoFrames(const std::vector<std::string>& image_paths,
                                        const VideoOptions& options,
                                        const PatchifyOptions& patchify, const DecodeLimits& limits,
                                        const VideoPlanCheck& before_decode) {
  return Collect(before_decode, [&](const VideoPlanCheck& check, const VideoSliceCallback& sink) {
    return StreamVideoFrames(image_paths, options, patchify, limits, check, sink);
  });
}

}  // namespace qwenvl::media
