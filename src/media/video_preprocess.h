// The video pipeline (model-spec §7): decode → sample frames (§7.1, §7.2) → one size for all frames
// (§7.3) → resize each kept frame as soon as it is decoded → normalize and flatten (§6.4, §6.5,
// §7.4).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "media/image.h"
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

// A video file (mp4, mov, mkv, webm, avi, ...). Only the sampled frames are kept, each resized when
// decoded. If the stream ends before a sampled frame (frame count metadata larger than the stream),
// the frames are sampled again from the count actually decoded. Throws Error on any bad input.
PreprocessedVideo PreprocessVideoFile(const std::string& path, const VideoOptions& options,
                                      const PatchifyOptions& patchify,
                                      const VideoLimits& limits = {});

// The same from bytes in memory; `name` is used in messages.
PreprocessedVideo PreprocessVideoMemory(std::span<const uint8_t> data, const std::string& name,
                                        const VideoOptions& options,
                                        const PatchifyOptions& patchify,
                                        const VideoLimits& limits = {});

// A video given as a list of image files (§7.3 "Frame lists"): no sampling; every frame goes
// through the image path (decode, smart_resize with the image defaults 3136 … 12845056 unless
// options set min/max_pixels or resized_height/width, PIL bicubic), the list is padded to an even
// length by repeating the last frame, and the fps is options.fps. All frames must come out the same
// size.
PreprocessedVideo PreprocessVideoFrames(const std::vector<std::string>& image_paths,
                                        const VideoOptions& options,
                                        const PatchifyOptions& patchify);

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
