// The video half of `qwenvl preprocess` (model-spec §7): its options and its run, kept apart from
// the image command file so that each stays one idea.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "media/patchify.h"

namespace qwenvl::cli {

struct VideoCliOptions {
  std::string video;                      // a video file
  std::vector<std::string> video_frames;  // or a video as a list of image files
  std::optional<double> fps;
  std::optional<int64_t> nframes;
  std::optional<int64_t> min_frames;
  std::optional<int64_t> max_frames;
  std::optional<int64_t> total_pixels;
  bool given() const { return !video.empty() || !video_frames.empty(); }
};

// Adds --video, --video-frames, --fps, --nframes, --min-frames, --max-frames, --total-pixels.
// Returns the --video and --video-frames options so the caller can make them exclusive with its
// own.
std::vector<CLI::Option*> AddVideoCliOptions(CLI::App* cmd, VideoCliOptions* opts);

// The pixel limits shared with the image options (unset: the video defaults of §7.3).
struct VideoPixelOptions {
  std::optional<int64_t> min_pixels;
  std::optional<int64_t> max_pixels;
  std::optional<int64_t> resized_height;
  std::optional<int64_t> resized_width;
};

// Runs the video pipeline and writes `out` (pixel_values_videos F32 [rows, 1176], video_grid_thw
// I64 [1, 3], frame_indices I64 [n], second_per_grid_ts F64 [1]); prints a one-line JSON summary.
void RunVideoPreprocess(const VideoCliOptions& video, const VideoPixelOptions& pixels,
                        const media::PatchifyOptions& patchify, const std::string& out);

}  // namespace qwenvl::cli
