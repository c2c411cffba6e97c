// Which frames of a video are kept and at what size (model-spec §7.1-§7.3, qwen-vl-utils
// `smart_nframes`, the linspace index rule and the per-frame pixel budget).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace qwenvl::media {

// §7.1 constants (qwen-vl-utils).
inline constexpr int64_t kFrameFactor = 2;  // = temporal_patch_size
inline constexpr double kDefaultVideoFps = 2.0;
inline constexpr int64_t kFpsMinFrames = 4;
inline constexpr int64_t kFpsMaxFrames = 768;
// §7.3 constants. kVideoTotalPixels is qwen-vl-utils' default of 128000·28·28·0.9; qwen-vl-utils
// reads it from the environment, the engine only from VideoOptions::total_pixels: no environment
// variable changes what the library does, every setting is an option the caller can see.
inline constexpr int64_t kVideoMinPixels = 128 * 28 * 28;  // 100352
inline constexpr int64_t kVideoMaxPixels = 768 * 28 * 28;  // 602112
inline constexpr int64_t kVideoTotalPixels = 90316800;
inline constexpr int64_t kVideoSizeFactor = 28;  // patch_size · merge_size

// The keys of a qwen-vl-utils video message element. `nframes`, when set, wins over `fps`.
struct VideoOptions {
  double fps = kDefaultVideoFps;
  std::optional<int64_t> nframes = std::nullopt;
  std::optional<int64_t> min_frames = std::nullopt;
  std::optional<int64_t> max_frames = std::nullopt;
  std::optional<int64_t> min_pixels = std::nullopt;
  std::optional<int64_t> max_pixels = std::nullopt;
  std::optional<int64_t> total_pixels = std::nullopt;
  std::optional<int64_t> resized_height = std::nullopt;  // both or neither
  std::optional<int64_t> resized_width = std::nullopt;
};

// §7.1: the number of frames to sample, even, in [2, total_frames]. video_fps is only read in fps
// mode. Throws Error(kInvalidArgument) when the video is too short (fewer than 2 usable frames) or
// an option is out of range.
int64_t SmartNFrames(const VideoOptions& options, int64_t total_frames, double video_fps);

// §7.2: round_half_even(linspace(0, total_frames - 1, nframes)) with torch's float32 linspace.
std::vector<int64_t> SampleFrameIndices(int64_t total_frames, int64_t nframes);

// §7.2: the fps of the sampled frames, nframes / total_frames · video_fps.
double SampleFps(int64_t nframes, int64_t total_frames, double video_fps);

// §7.4: seconds covered by one temporal patch of two frames.
inline double SecondPerGridT(double sample_fps) { return kFrameFactor / sample_fps; }

// §7.3: the min/max pixels of one frame given the frame count. max_pixels is qwen-vl-utils' float
// bound floored to an integer (frame areas are integers, so the comparison is unchanged).
struct FramePixelBudget {
  int64_t min_pixels = 0;
  int64_t max_pixels = 0;
};
FramePixelBudget VideoPixelBudget(const VideoOptions& options, int64_t nframes);

// §7.3: the one size all sampled frames are resized to, {height, width}, multiples of 28.
struct FrameSize {
  int height = 0;
  int width = 0;
};
FrameSize VideoResizedSize(int orig_height, int orig_width, const VideoOptions& options,
                           int64_t nframes);

// Python's round(): half to even.
int64_t RoundHalfEven(double x);

}  // namespace qwenvl::media
