// Frame count, frame indices and pixel budget of a sampled video (model-spec §7.1-§7.3).
#include "media/video_sampling.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "media/preprocessor_config.h"
#include "media/smart_resize.h"
#include "util/error.h"

namespace qwenvl::media {
namespace {

// torch.linspace on CPU (RangeFactoriesKernel): float32 step, the first half counted up from start
// and the second half down from end. Runs of 2·8 elements go through the AVX2 vector body, which
// adds k·step to the run's first value instead of recomputing each element; the tail is scalar. The
// two differ by an ulp at most, which only matters for values next to a .5 tie.
constexpr int64_t kTorchFloatLanes = 8;

float TorchLinspaceScalar(float start, float end, float step, int64_t steps, int64_t i) {
  const int64_t halfway = steps / 2;
  if (i < halfway) return start + step * static_cast<float>(i);
  return end - step * static_cast<float>(steps - i - 1);
}

std::vector<float> TorchLinspaceF32(float start, float end, int64_t steps) {
  std::vector<float> out(static_cast<size_t>(steps));
  if (steps == 1) {
    out[0] = start;
    return out;
  }
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int64_t vector_end = steps / (2 * kTorchFloatLanes) * (2 * kTorchFloatLanes);
  for (int64_t base = 0; base < vector_end; base += kTorchFloatLanes) {
    const float first = TorchLinspaceScalar(start, end, step, steps, base);
    for (int64_t k = 0; k < kTorchFloatLanes; ++k) {
      out[static_cast<size_t>(base + k)] = first + static_cast<float>(k) * step;
    }
  }
  for (int64_t i = vector_end; i < steps; ++i) {
    out[static_cast<size_t>(i)] = TorchLinspaceScalar(start, end, step, steps, i);
  }
  return out;
}

void RequirePositive(const std::optional<int64_t>& value, const char* name) {
  if (value && *value <= 0) {
    throw Error(ErrorCode::kInvalidArgument, std::string("video option ") + name +
                                                 ": a positive value expected, got " +
                                                 std::to_string(*value));
  }
}

}  // namespace

int64_t RoundHalfEven(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

int64_t SmartNFrames(const VideoOptions& options, int64_t total_frames, double video_fps) {
  RequirePositive(options.nframes, "nframes");
  RequirePositive(options.min_frames, "min_frames");
  RequirePositive(options.max_frames, "max_frames");
  if (total_frames <= 0) {
    throw Error(ErrorCode::kInvalidArgument, "video has no frames");
  }
  int64_t nframes = 0;
  if (options.nframes) {
    nframes = RoundHalfEven(static_cast<double>(*options.nframes) / kFrameFactor) * kFrameFactor;
  } else {
    if (!(options.fps > 0.0) || !std::isfinite(options.fps)) {
      throw Error(
          ErrorCode::kInvalidArgument,
          "video option fps: a positive number expected, got " + std::to_string(options.fps));
    }
    if (!(video_fps > 0.0) || !std::isfinite(video_fps)) {
      throw Error(ErrorCode::kInvalidArgument, "video has no usable frame rate (" +
                                                   std::to_string(video_fps) +
                                                   "); give nframes instead of fps");
    }
    const double f = kFrameFactor;
    const double min_frames =
        std::ceil(static_cast<double>(options.min_frames.value_or(kFpsMinFrames)) / f) * f;
    const double max_frames = std::floor(static_cast<double>(options.max_frames.value_or(
                                             std::min(kFpsMaxFrames, total_frames))) /
                                         f) *
                              f;
    double n = static_cast<double>(total_frames) / video_fps * options.fps;
    n = std::min({std::max(n, min_frames), max_frames, static_cast<double>(total_frames)});
    nframes = static_cast<int64_t>(std::floor(n / f) * f);
  }
  if (nframes < kFrameFactor || nframes > total_frames) {
    throw Error(ErrorCode::kInvalidArgument,
                "video frame sampling: nframes must be in [2, " + std::to_string(total_frames) +
                    "] (the video's frame count), got " + std::to_string(nframes));
  }
  return nframes;
}

std::vector<int64_t> SampleFrameIndices(int64_t total_frames, int64_t nframes) {
  QWENVL_CHECK(nframes >= 1 && total_frames >= 1);
  const std::vector<float> positions =
      TorchLinspaceF32(0.0f, static_cast<float>(total_frames - 1), nframes);
  std::vector<int64_t> indices;
  indices.reserve(positions.size());
  for (float p : positions) {
    // torch.round is half to even; clamp guards the float32 rounding of huge frame counts.
    indices.push_back(std::clamp<int64_t>(RoundHalfEven(p), 0, total_frames - 1));
  }
  return indices;
}

double SampleFps(int64_t nframes, int64_t total_frames, double video_fps) {
  return static_cast<double>(nframes) / std::max(static_cast<double>(total_frames), 1e-6) *
         video_fps;
}

FramePixelBudget VideoPixelBudget(const VideoOptions& options, int64_t nframes) {
  RequirePositive(options.min_pixels, "min_pixels");
  RequirePositive(options.max_pixels, "max_pixels");
  RequirePositive(options.total_pixels, "total_pixels");
  QWENVL_CHECK(nframes > 0);
  const int64_t min_pixels = options.min_pixels.value_or(kVideoMinPixels);
  const double total_pixels = static_cast<double>(options.total_pixels.value_or(kVideoTotalPixels));
  const double per_frame = total_pixels / static_cast<double>(nframes) * kFrameFactor;
  const double min_bound = std::floor(static_cast<double>(min_pixels) * 1.05);  // int(min · 1.05)
  double max_pixels =
      std::max(std::min(static_cast<double>(kVideoMaxPixels), per_frame), min_bound);
  if (options.max_pixels) {
    max_pixels = std::min(static_cast<double>(*options.max_pixels), max_pixels);  // can only lower
  }
  return {min_pixels, static_cast<int64_t>(std::floor(max_pixels))};
}

FrameSize VideoResizedSize(int orig_height, int orig_width, const VideoOptions& options,
                           int64_t nframes) {
  if (options.resized_height.has_value() != options.resized_width.has_value()) {
    throw Error(ErrorCode::kInvalidArgument,
                "video options resized_height and resized_width must be given together");
  }
  ResizedSize size;
  if (options.resized_height) {
    RequirePositive(options.resized_height, "resized_height");
    RequirePositive(options.resized_width, "resized_width");
    // qwen-vl-utils rounds the requested size with the image defaults (§7.3, §6.2).
    size = SmartResize(*options.resized_height, *options.resized_width, kVideoSizeFactor,
                       kDefaultMinPixels, kDefaultMaxPixels);
  } else {
    const FramePixelBudget budget = VideoPixelBudget(options, nframes);
    size = SmartResize(orig_height, orig_width, kVideoSizeFactor, budget.min_pixels,
                       budget.max_pixels);
  }
  return {static_cast<int>(size.height), static_cast<int>(size.width)};
}

}  // namespace qwenvl::media
