#include "runtime/media_caches.h"

#include <span>

namespace qwenvl::runtime {

std::shared_ptr<const PreparedMedia> MediaCaches::GetPrepared(const Media& m,
                                                              const MediaSettings& settings,
                                                              const SliceProgress& on_slice) {
  const std::string key = MediaKey(m, settings);
  {
    std::lock_guard<std::mutex> lock(prepared_mu_);
    if (const auto* hit = prepared_.Find(key)) return *hit;
  }
  // Outside the lock: ClearCaches need not wait for a decode.
  auto prepared = std::make_shared<PreparedMedia>(PrepareMedia(m, settings, on_slice));
  std::lock_guard<std::mutex> lock(prepared_mu_);
  prepared_.Put(key, prepared);
  return prepared;
}

std::shared_ptr<const std::vector<float>> MediaCaches::GetVisionFeatures(
    const PreparedMedia& m, const model::VisionEncoder& encoder, bool* hit,
    const std::function<void()>& between_blocks) {
  {
    std::lock_guard<std::mutex> lock(vision_mu_);
    if (const auto* cached = vision_.Find(m.key)) {
      ++vision_hits_;
      *hit = true;
      return *cached;
    }
  }
  *hit = false;
  {
    std::lock_guard<std::mutex> lock(vision_mu_);
    ++vision_misses_;  // encoded below, or while it was decoded (a streamed video)
    // A video encoded while it was decoded (MediaSettings::video_encoder) brings its rows along;
    // they are kept like any encoding, so that a repeat counts as cached.
    if (m.features) {
      vision_.Put(m.key, m.features);
      return m.features;
    }
  }
  // Outside the lock: ClearCaches need not wait for a whole encoding.
  const model::GridThw grid = m.grid;
  auto features = std::make_shared<const std::vector<float>>(
      encoder.Encode(m.patches.values, std::span(&grid, 1), nullptr, between_blocks));
  std::lock_guard<std::mutex> lock(vision_mu_);
  vision_.Put(m.key, features);
  return features;
}

void MediaCaches::Clear() {
  {
    std::lock_guard<std::mutex> lock(prepared_mu_);
    prepared_.Clear();
  }
  std::lock_guard<std::mutex> lock(vision_mu_);
  vision_.Clear();
}

MediaCaches::VisionStats MediaCaches::vision_stats() const {
  std::lock_guard<std::mutex> lock(vision_mu_);
  return {static_cast<int64_t>(vision_.size()), static_cast<int64_t>(vision_.cost()), vision_hits_,
          vision_misses_};
}

}  // namespace qwenvl::runtime
