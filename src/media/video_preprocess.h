// The video pipeline (model-spec §7): decode → sample frames (§7.1, §7.2) → one size for all frames
// (§7.3) → resize each kept frame as soon as it is decoded → normalize and flatten (§6.4, §6.5,
// §7.4), one temporal patch (two frames) at a time: the Stream functions hand each slice on as soon
// as its frames are in, so that memory holds a slice and not the clip; the Preprocess functions
// collect the slices into one tensor.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "media/image.h"
#include "media/image_decode.h"
#include "media/patchify.h"
#include "media/video_reader.h"
#include "media/video_sampling.h"

namespace qwenvl::media {

struct PreprocessedVideo {
  Patches patches;                     // [grid_t · grid_h · grid_w, 1176], grid_t = frames / 2
  std::vector<int64_t> frame_indices;  // the sampled frames, before padding to an even count
  double sample_fps = 0.0;             // fps of the sampled frames (§7.2)
  double second_per_grid_ts = 0.0;     // 2 / sample_fps (§7.4), used by M-RoPE (§5.3)
  int orig_width = 0;
  int orig_height = 0;
  int resized_width = 0;
  int resized_height = 0;
  int64_t total_frames = 0;  // frames in the video (or images in a frame list)
  double video_fps = 0.0;    // of the video; for a frame list, VideoOptions::fps
};

// What a video item will be decoded into, known from the container's stream header (a file) or the
// images' headers (a frame list) before any frame is decoded.
struct VideoPlan {
  int orig_width = 0;  // of the stream; of the first image of a frame list
  int orig_height = 0;
  int64_t total_frames = 0;  // in the stream (as its header counts them); of a frame list
  int64_t nframes = 0;       // frames decoded and kept: the sampled ones; every image of a list
  FrameSize resized;         // the size every kept frame is resized to
};

// Called with the plan before a decode pass starts; throws to refuse the item.
using VideoPlanCheck = std::function<void(const VideoPlan&)>;

// One temporal patch of a video: `temporal_patch` resized frames (the last slice of an odd frame
// list padded by repeating its last frame), flattened as Patchify does with grid_t = 1. The rows of
// the whole clip are the slices' rows in order (Patchify's rows are t-major, model-spec §6.5).
struct VideoSlice {
  int64_t t = 0;  // temporal index, 0-based
  Patches patches;
};
using VideoSliceCallback = std::function<void(VideoSlice&& slice)>;

// The plans of the three kinds of source (opening the container or reading the image headers
// only). Throw Error as the Preprocess functions below do for what headers already show.
VideoPlan PlanVideoFile(const std::string& path, const VideoOptions& options,
                        const VideoLimits& limits = {});
VideoPlan PlanVideoMemory(std::span<const uint8_t> data, const std::string& name,
                          const VideoOptions& options, const VideoLimits& limits = {});
VideoPlan PlanVideoFrames(const std::vector<std::string>& image_paths, const VideoOptions& options,
                          const DecodeLimits& limits = {});

// A video file (mp4, mov, mkv, webm, avi, ...). Only the sampled frames are kept, each resized when
// decoded. If the stream ends before a sampled frame (frame count metadata larger than the stream),
// the frames are sampled again from the count actually decoded. before_decode, if set, sees the
// plan of each decode pass first. Frames are resized and patchified a slice at a time; the result
// holds every slice's patches. A decoded frame with more pixels than the stream header gives is
// refused (the plan's memory bound would not hold). Throws Error on any bad input.
PreprocessedVideo PreprocessVideoFile(const std::string& path, const VideoOptions& options,
                                      const PatchifyOptions& patchify,
                                      const VideoLimits& limits = {},
                                      const VideoPlanCheck& before_decode = nullptr);

// The same from bytes in memory; `name` is used in messages.
PreprocessedVideo PreprocessVideoMemory(std::span<const uint8_t> data, const std::string& name,
                                        const VideoOptions& options,
                                        const PatchifyOptions& patchify,
                                        const VideoLimits& limits = {},
                                        const VideoPlanCheck& before_decode = nullptr);

// A video given as a list of image files (§7.3 "Frame lists"): no sampling; every frame goes
// through the image path (decode, smart_resize with the image defaults 3136 … 12845056 unless
// options set min/max_pixels or resized_height/width, PIL bicubic), the list is padded to an even
// length by repeating the last frame, and the fps is options.fps. All frames must come out the same
// size. Every image's header is read first (sizes, `limits`, before_decode), then the images are
// decoded and resized one at a time, so one full-size frame is held at once besides the resized
// ones of one temporal slice.
PreprocessedVideo PreprocessVideoFrames(const std::vector<std::string>& image_paths,
                                        const VideoOptions& options,
                                        const PatchifyOptions& patchify,
                                        const DecodeLimits& limits = {},
                                        const VideoPlanCheck& before_decode = nullptr);

// The Preprocess functions above, streamed: on_slice gets every slice in order as soon as its
// frames are decoded and resized; the result holds the facts and the grid (patches.grid_t counts
// the slices) but no values. before_decode is called at the start of every decode pass: when the
// stream ends before a sampled frame it is sampled again from the decoded count and a second pass
// runs, so a sink that collects slices starts over when before_decode is called again (or refuses
// the second plan by throwing).
PreprocessedVideo StreamVideoFile(const std::string& path, const VideoOptions& options,
                                  const PatchifyOptions& patchify, const VideoLimits& limits,
                                  const VideoPlanCheck& before_decode,
                                  const VideoSliceCallback& on_slice);
PreprocessedVideo StreamVideoMemory(std::span<const uint8_t> data, const std::string& name,
                                    const VideoOptions& options, const PatchifyOptions& patchify,
                                    const VideoLimits& limits, const VideoPlanCheck& before_decode,
                                    const VideoSliceCallback& on_slice);
PreprocessedVideo StreamVideoFrames(const std::vector<std::string>& image_paths,
                                    const VideoOptions& options, const PatchifyOptions& patchify,
                                    const DecodeLimits& limits, const VideoPlanCheck& before_decode,
                                    const VideoSliceCallback& on_slice);

// Decoded frames already in memory (all of the video, same size): sampled, resized and flattened as
// PreprocessVideoFile does.
PreprocessedVideo PreprocessVideoRgbFrames(std::span<const RgbImage> frames, double video_fps,
                                           const VideoOptions& options,
                                           const PatchifyOptions& patchify);

// The last two steps alone: resizes every frame to `size` (PIL-exact bicubic, skipped when the size
// is unchanged) and flattens them; an odd count is padded by repeating the last frame (§7.4).
Patches PatchifyVideoFrames(std::vector<RgbImage> frames, FrameSize size,
                            const PatchifyOptions& patchify);

}  // namespace qwenvl::media
