// `qwenvl preprocess --video P`: sample, resize and patchify a video as qwen-vl-utils and the
// Qwen2.5-VL video processor do (model-spec §7).
#include "cli/preprocess_video.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <span>

#include "io/safetensors_writer.h"
#include "media/video_preprocess.h"
#include "util/error.h"

namespace qwenvl::cli {

std::vector<CLI::Option*> AddVideoCliOptions(CLI::App* cmd, VideoCliOptions* opts) {
  auto* video =
      cmd->add_option("--video", opts->video,
                      "video file (mp4, mov, mkv, webm, avi; H.264, H.265, VP8/9, AV1, ...)");
  auto* frames = cmd->add_option("--video-frames", opts->video_frames,
                                 "a video given as image files, in order (no sampling)");
  video->excludes(frames);
  auto* fps = cmd->add_option("--fps", opts->fps, "video: frames sampled per second (default 2.0)");
  auto* nframes = cmd->add_option("--nframes", opts->nframes, "video: number of frames to sample");
  nframes->excludes(fps);
  cmd->add_option("--min-frames", opts->min_frames, "video: fewest frames sampled (default 4)");
  cmd->add_option("--max-frames", opts->max_frames, "video: most frames sampled (default 768)");
  cmd->add_option("--total-pixels", opts->total_pixels,
                  "video: pixel budget of all frames together (default 90316800)");
  return {video, frames};
}

void RunVideoPreprocess(const VideoCliOptions& v, const VideoPixelOptions& pixels,
                        const media::PatchifyOptions& patchify, const std::string& out) {
  media::VideoOptions options;
  if (v.fps) options.fps = *v.fps;
  options.nframes = v.nframes;
  options.min_frames = v.min_frames;
  options.max_frames = v.max_frames;
  options.total_pixels = v.total_pixels;
  options.min_pixels = pixels.min_pixels;
  options.max_pixels = pixels.max_pixels;
  options.resized_height = pixels.resized_height;
  options.resized_width = pixels.resized_width;
  const media::PreprocessedVideo pre =
      v.video.empty() ? media::PreprocessVideoFrames(v.video_frames, options, patchify)
                      : media::PreprocessVideoFile(v.video, options, patchify);
  const media::Patches& p = pre.patches;
  const int64_t cols = p.rows() == 0 ? 0 : static_cast<int64_t>(p.values.size()) / p.rows();
  const std::vector<int64_t> grid = {p.grid_t, p.grid_h, p.grid_w};
  const std::vector<double> spg = {pre.second_per_grid_ts};
  std::vector<io::OwnedTensor> tensors;
  tensors.push_back(io::MakeTensor<float>("pixel_values_videos", io::DType::kF32, {p.rows(), cols},
                                          std::span<const float>(p.values)));
  tensors.push_back(io::MakeTensor<int64_t>("video_grid_thw", io::DType::kI64, {1, 3},
                                            std::span<const int64_t>(grid)));
  tensors.push_back(io::MakeTensor<int64_t>("frame_indices", io::DType::kI64,
                                            {static_cast<int64_t>(pre.frame_indices.size())},
                                            std::span<const int64_t>(pre.frame_indices)));
  tensors.push_back(io::MakeTensor<double>("second_per_grid_ts", io::DType::kF64, {1},
                                           std::span<const double>(spg)));
  io::WriteSafetensors(out, tensors);

  const int64_t merge = int64_t{patchify.merge_size} * patchify.merge_size;
  nlohmann::json summary = {
      {"video", v.video.empty() ? nlohmann::json(v.video_frames) : nlohmann::json(v.video)},
      {"total_frames", pre.total_frames},
      {"video_fps", pre.video_fps},
      {"frame_indices", pre.frame_indices},
      {"sample_fps", pre.sample_fps},
      {"second_per_grid_ts", pre.second_per_grid_ts},
      {"orig_hw", {pre.orig_height, pre.orig_width}},
      {"resized_hw", {pre.resized_height, pre.resized_width}},
      {"grid_thw", grid},
      {"video_tokens", p.rows() / merge},
      {"out", out}};
  std::printf("%s\n", summary.dump().c_str());
}

}  // namespace qwenvl::cli
