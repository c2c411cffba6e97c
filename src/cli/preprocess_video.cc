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

namespace {

// The plan changed between the plan and the decode (the stream ended before a sampled frame and
// was sampled again): the tensors' shapes in the header no longer hold.
struct PlanChanged {};

bool SamePlan(const media::VideoPlan& a, const media::VideoPlan& b) {
  return a.total_frames == b.total_frames && a.nframes == b.nframes &&
         a.resized.width == b.resized.width && a.resized.height == b.resized.height;
}

std::vector<io::TensorSpec> VideoSpecs(int64_t rows, int64_t cols, int64_t nframes) {
  return {{"pixel_values_videos", io::DType::kF32, {rows, cols}},
          {"video_grid_thw", io::DType::kI64, {1, 3}},
          {"frame_indices", io::DType::kI64, {nframes}},
          {"second_per_grid_ts", io::DType::kF64, {1}}};
}

template <class T>
std::span<const uint8_t> Bytes(std::span<const T> values) {
  return {reinterpret_cast<const uint8_t*>(values.data()), values.size_bytes()};
}

// The three small tensors after pixel_values_videos.
void WriteFacts(size_t i, const media::PreprocessedVideo& pre, const io::ChunkWriter& write) {
  const media::Patches& p = pre.patches;
  const std::vector<int64_t> grid = {p.grid_t, p.grid_h, p.grid_w};
  const std::vector<double> spg = {pre.second_per_grid_ts};
  if (i == 1) write(Bytes(std::span<const int64_t>(grid)));
  if (i == 2) write(Bytes(std::span<const int64_t>(pre.frame_indices)));
  if (i == 3) write(Bytes(std::span<const double>(spg)));
}

// Streams the video into `out` one temporal slice at a time: the header's shapes come from the
// plan, the patches are written as each slice is made, so the file's size is not held in memory.
media::PreprocessedVideo StreamToFile(const VideoCliOptions& v, const media::VideoOptions& options,
                                      const media::PatchifyOptions& patchify,
                                      const std::string& out) {
  const media::VideoPlan plan = v.video.empty() ? media::PlanVideoFrames(v.video_frames, options)
                                                : media::PlanVideoFile(v.video, options);
  const int64_t tp = patchify.temporal_patch, ps = patchify.patch_size;
  const int64_t rows =
      (plan.nframes + tp - 1) / tp * (plan.resized.height / ps) * (plan.resized.width / ps);
  const int64_t cols = 3 * tp * ps * ps;
  media::PreprocessedVideo pre;
  io::WriteSafetensorsChunked(
      out, VideoSpecs(rows, cols, plan.nframes), [&](size_t i, const io::ChunkWriter& write) {
        if (i > 0) return WriteFacts(i, pre, write);
        const media::VideoPlanCheck same = [&](const media::VideoPlan& decoded) {
          if (!SamePlan(plan, decoded)) throw PlanChanged{};
        };
        const media::VideoSliceCallback sink = [&](media::VideoSlice&& slice) {
          write(Bytes(std::span<const float>(slice.patches.values)));
        };
        pre = v.video.empty()
                  ? media::StreamVideoFrames(v.video_frames, options, patchify, {}, same, sink)
                  : media::StreamVideoFile(v.video, options, patchify, {}, same, sink);
      });
  return pre;
}

// A stream that decodes to another plan than its header gave: the whole clip in memory, then
// written.
media::PreprocessedVideo WholeToFile(const VideoCliOptions& v, const media::VideoOptions& options,
                                     const media::PatchifyOptions& patchify,
                                     const std::string& out) {
  media::PreprocessedVideo pre =
      v.video.empty() ? media::PreprocessVideoFrames(v.video_frames, options, patchify)
                      : media::PreprocessVideoFile(v.video, options, patchify);
  const media::Patches& p = pre.patches;
  const int64_t cols = p.rows() == 0 ? 0 : static_cast<int64_t>(p.values.size()) / p.rows();
  io::WriteSafetensorsChunked(
      out, VideoSpecs(p.rows(), cols, static_cast<int64_t>(pre.frame_indices.size())),
      [&](size_t i, const io::ChunkWriter& write) {
        if (i == 0) return write(Bytes(std::span<const float>(p.values)));
        WriteFacts(i, pre, write);
      });
  pre.patches.values = {};
  return pre;
}

}  // namespace

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
  media::PreprocessedVideo pre;
  try {
    pre = StreamToFile(v, options, patchify, out);
  } catch (const PlanChanged&) {
    pre = WholeToFile(v, options, patchify, out);
  }
  const media::Patches& p = pre.patches;
  const std::vector<int64_t> grid = {p.grid_t, p.grid_h, p.grid_w};
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
