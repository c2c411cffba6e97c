// One picture or video of a request turned into what the vision encoder takes: decoded, resized
// and cut into patches (model-spec §6, §7), with the facts the caller needs back (sizes for
// grounding, sampled frames) and a content key for caches.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "media/image.h"
#include "media/preprocessor_config.h"
#include "model/grid.h"
#include "model/vision_encoder.h"
#include "qwenvl/engine.h"
#include "util/thread_pool.h"

namespace qwenvl::runtime {

struct PreparedMedia {
  Media::Kind kind = Media::Kind::kImage;
  media::Patches patches;  // [t·h·w, patch_dim]; empty when `features` holds the encoding
  // A video encoded as it was decoded (MediaSettings::video_encoder): the vision encoder's rows
  // [tokens, out_hidden], the patches never held whole.
  std::shared_ptr<const std::vector<float>> features;
  model::GridThw grid;
  double second_per_grid_t = 0.0;  // videos (§5.3)
  MediaInfo info;
  std::string key;  // sha256 of the source and every setting that changes the patches
  int64_t tokens(int64_t merge) const { return grid.num_patches() / (merge * merge); }
};

struct MediaSettings {
  media::PreprocessorConfig preprocessor;
  int64_t max_decoded_image_pixels = 0;
  // Decoded RGB bytes one item may hold at once (MediaPlan::pixel_bytes); 0: no bound.
  int64_t max_media_pixel_bytes = 0;
  // Tokens a prompt may hold (the context length); 0: no bound.
  int64_t token_budget = 0;
  ThreadPool* pool = nullptr;
  // When set, a video goes through the encoder one temporal slice (two frames) at a time as it is
  // decoded, and PreparedMedia keeps the rows instead of the patches: the encoder's attention never
  // crosses temporal slices (model-spec §3.4: windows and full-attention segments lie within one
  // grid_t slice), so the rows are those of the whole clip encoded at once, and memory holds a
  // slice instead of the clip. The caller holds the lock that serialises forward passes.
  const model::VisionEncoder* video_encoder = nullptr;
};

// What a media item will become, known from its headers alone (no pixel decoded).
struct MediaPlan {
  Media::Kind kind = Media::Kind::kImage;
  bool frame_list = false;
  int64_t width = 0;  // of a source frame
  int64_t height = 0;
  int64_t total_frames = 1;  // in the video (a picture: 1)
  int64_t frames = 1;        // decoded and kept: sampled frames, every image of a frame list
  int64_t resized_width = 0;
  int64_t resized_height = 0;
  int64_t tokens = 0;       // vision tokens the item puts in the prompt
  int64_t held_frames = 1;  // resized frames held at once while preparing
  // Decoded RGB held at once while the item is prepared: one full-size frame and the resized frames
  // held together (a picture: one; a video: one temporal slice, as frames are decoded, resized and
  // patchified a slice at a time). The decoders' own scratch (at most a few bytes a pixel of one
  // frame) and the float patches (bounded by `tokens`) are not counted.
  int64_t pixel_bytes = 0;
  // "video of 4 frames of 3584x3584 resized to 3584x3584, 32768 tokens", for messages.
  std::string Describe() const;
};

// What the headers of a media item say, all the sizing rules need (no pixel decoded).
struct MediaProbe {
  Media::Kind kind = Media::Kind::kImage;
  bool frame_list = false;
  int64_t width = 0;  // of the picture, the stream, or the first image of a frame list
  int64_t height = 0;
  int64_t total_frames = 1;  // in the video's stream header; images of a frame list; a picture: 1
  double video_fps = 0.0;    // of the stream (videos from a file or bytes)
};

// Reads the item's headers: the image header, the container's stream info, or every image of a
// frame list (checked to resize to one size under the item's settings). Throws Error as
// PrepareMedia does for what headers show (max_decoded_image_pixels included).
MediaProbe ProbeMedia(const Media& m, const MediaSettings& settings);

// The sizing rules PrepareMedia applies, from the probe and the item's settings alone (a pure
// function: the planner calls it with lowered settings). Throws Error(kInvalidArgument) for
// settings the rules refuse.
MediaPlan PlanFromProbe(const MediaProbe& probe, const Media& m,
                        const media::PreprocessorConfig& config);

// Content key of a media item without decoding it (hash of the file or bytes plus settings).
std::string MediaKey(const Media& m, const MediaSettings& settings);

// PlanFromProbe(ProbeMedia(m, settings), m, settings.preprocessor).
MediaPlan PlanMedia(const Media& m, const MediaSettings& settings);

// Refuses, with Error(kOutOfRange) naming the sizes and the budget, an item whose pixel_bytes pass
// max_media_pixel_bytes, and media whose tokens with text_tokens more (the rest of the prompt) do
// not leave the prompt below token_budget.
void CheckMediaBudget(std::span<const MediaPlan> plans, int64_t text_tokens,
                      const MediaSettings& settings);

// PlanMedia of every item, then CheckMediaBudget: a request's media checked before any is decoded.
void CheckRequestMedia(std::span<const Media* const> media, int64_t text_tokens,
                       const MediaSettings& settings);

// Plans the item and checks it alone (CheckMediaBudget) before decoding; decodes and resizes frames
// one at a time; hands the freed decode buffers back to the system before returning or throwing.
// Throws Error naming the file (or "image N") on unreadable, corrupt or out-of-budget input.
// on_slice, for a video encoded while it is decoded (MediaSettings::video_encoder): called after
// each temporal slice with the slices done and their total; it may throw to stop the work.
using SliceProgress = std::function<void(int64_t done, int64_t total)>;
PreparedMedia PrepareMedia(const Media& m, const MediaSettings& settings,
                           const SliceProgress& on_slice = nullptr);

}  // namespace qwenvl::runtime
