// One picture or video of a request turned into what the vision encoder takes: decoded, resized
// and cut into patches (model-spec §6, §7), with the facts the caller needs back (sizes for
// grounding, sampled frames) and a content key for caches.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "media/image.h"
#include "media/preprocessor_config.h"
#include "model/grid.h"
#include "qwenvl/engine.h"
#include "util/thread_pool.h"

namespace qwenvl::runtime {

struct PreparedMedia {
  Media::Kind kind = Media::Kind::kImage;
  media::Patches patches;  // [t·h·w, patch_dim]
  model::GridThw grid;
  double second_per_grid_t = 0.0;  // videos (§5.3)
  MediaInfo info;
  std::string key;  // sha256 of the source and every setting that changes the patches
  int64_t tokens(int64_t merge) const { return grid.num_patches() / (merge * merge); }
};

struct MediaSettings {
  media::PreprocessorConfig preprocessor;
  int64_t max_decoded_image_pixels = 0;
  ThreadPool* pool = nullptr;
};

// Content key of a media item without decoding it (hash of the file or bytes plus settings).
std::string MediaKey(const Media& m, const MediaSettings& settings);

// Throws Error naming the file (or "image N") on unreadable, corrupt or out-of-budget input.
PreparedMedia PrepareMedia(const Media& m, const MediaSettings& settings);

}  // namespace qwenvl::runtime
