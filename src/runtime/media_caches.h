// What the engine keeps of earlier requests' media so that a picture seen again (a follow-up turn,
// another request) is neither prepared nor encoded again: the prepared patches and the vision
// encoder's output, each by content key, each bounded in bytes (least recently used entries go
// first) and locked on its own.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model/vision_encoder.h"
#include "qwenvl/engine.h"
#include "runtime/media_input.h"
#include "util/lru_cache.h"

namespace qwenvl::runtime {

class MediaCaches {
 public:
  // 512 MiB of patches holds a dozen 3B-size pictures at the default pixel budget (about 37 MB of
  // patches each) or a few long videos.
  static constexpr size_t kPreparedBytes = size_t{512} << 20;
  static constexpr size_t kVisionBytes = size_t{512} << 20;

  // The item prepared with `settings`, from the cache or prepared now (PrepareMedia: its errors).
  // Preparing runs on settings.pool: the caller holds the lock that serialises work on it.
  std::shared_ptr<const PreparedMedia> GetPrepared(const Media& m, const MediaSettings& settings,
                                                   const SliceProgress& on_slice = nullptr);

  // The vision encoder's rows for m: those it was prepared with (a video encoded as it was
  // decoded), from the cache (*hit = true), or encoded now. The caller holds
  // the lock that serialises forward passes. between_blocks: as VisionEncoder::Encode's.
  std::shared_ptr<const std::vector<float>> GetVisionFeatures(
      const PreparedMedia& m, const model::VisionEncoder& encoder, bool* hit,
      const std::function<void()>& between_blocks = nullptr);

  // Forgets both caches (no answer changes: the next request prepares and encodes again).
  void Clear();

  struct VisionStats {
    int64_t entries = 0, bytes = 0, hits = 0, misses = 0;
  };
  VisionStats vision_stats() const;

 private:
  std::mutex prepared_mu_;
  LruCache<std::string, std::shared_ptr<const PreparedMedia>> prepared_{
      kPreparedBytes, [](const std::shared_ptr<const PreparedMedia>& m) {
        return (m->patches.values.size() + (m->features ? m->features->size() : 0)) * sizeof(float);
      }};
  mutable std::mutex vision_mu_;
  int64_t vision_hits_ = 0, vision_misses_ = 0;  // under vision_mu_
  LruCache<std::string, std::shared_ptr<const std::vector<float>>> vision_{
      kVisionBytes,
      [](const std::shared_ptr<const std::vector<float>>& f) { return f->size() * sizeof(float); }};
};

}  // namespace qwenvl::runtime
