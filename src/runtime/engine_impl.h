// What an Engine holds: the model, the text side (tokenizer, template), the media settings, the
// generation defaults, one thread pool, and the scheduler of submitted requests.
#pragma once

#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "compute/backend.h"
#include "media/preprocessor_config.h"
#include "model/qwen2_5_vl.h"
#include "qwenvl/engine.h"
#include "runtime/generation_config.h"
#include "runtime/media_input.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"
#include "util/lru_cache.h"
#include "util/thread_pool.h"

namespace qwenvl::runtime {
class Scheduler;
}

namespace qwenvl {

// The KV cache of one sequence and what it holds, so that a request extending it computes only
// the new tokens.
struct SequenceState {
  SequenceState(const model::Model& model, int64_t capacity) : sequence(model, capacity) {}
  model::Sequence sequence;
  std::vector<int64_t> ids;             // tokens whose keys/values are in the cache
  std::vector<int64_t> max_pos;         // [ids]: largest M-RoPE position up to each token
  std::vector<std::string> media_keys;  // media whose pads are in `ids`
  std::vector<std::pair<int64_t, int64_t>> media_ranges;  // their pad runs [begin, end)
  void Reset() {
    sequence.Reset();
    ids.clear();
    max_pos.clear();
    media_keys.clear();
    media_ranges.clear();
  }
  // Keeps the first n tokens (n <= ids.size(); media cut by n are dropped with their tokens).
  void Truncate(int64_t n);
};

struct Engine::Impl {
  // Bounds of the two caches below. 512 MiB of patches holds a dozen 3B-size pictures at the
  // default pixel budget (about 37 MB of patches each) or a few long videos.
  static constexpr size_t kMediaCacheBytes = size_t{512} << 20;
  static constexpr size_t kVisionCacheBytes = size_t{512} << 20;

  EngineOptions options;
  std::string model_name;
  double load_seconds = 0;
  // Declared before the model: the model's weights and buffers live in the backend, which runs on
  // the pool, so they go in the reverse order.
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<compute::Backend> backend;
  std::unique_ptr<model::Model> model;
  std::optional<text::Tokenizer> tokenizer;
  std::optional<text::ChatTemplate> chat_template;
  runtime::MediaSettings media_settings;
  runtime::GenerationDefaults generation;
  // One forward pass at a time on the pool. Recursive: the scheduler runs decode steps between the
  // vision encoder's blocks of a request it is admitting, under the same lock.
  std::recursive_mutex compute_mu;
  std::unique_ptr<runtime::Scheduler> scheduler;

  // Prepared media by content key (vision inputs of follow-up turns and of other requests are not
  // recomputed), bounded by the bytes of their patches.
  std::mutex media_cache_mu;
  LruCache<std::string, std::shared_ptr<const runtime::PreparedMedia>> media_cache{
      kMediaCacheBytes, [](const std::shared_ptr<const runtime::PreparedMedia>& m) {
        return m->patches.values.size() * sizeof(float);
      }};
  std::shared_ptr<const runtime::PreparedMedia> GetMedia(const Media& m);

  // Vision encoder output per media key, bounded in bytes: the same picture in a follow-up turn or
  // in another request is not encoded again. Call with compute_mu held.
  LruCache<std::string, std::shared_ptr<const std::vector<float>>> vision_cache{
      kVisionCacheBytes,
      [](const std::shared_ptr<const std::vector<float>>& f) { return f->size() * sizeof(float); }};
  // between_blocks: as VisionEncoder::Encode's.
  std::shared_ptr<const std::vector<float>> GetVisionFeatures(
      const runtime::PreparedMedia& m, bool* hit,
      const std::function<void()>& between_blocks = nullptr);

  std::string Render(const Request& request) const;
};

}  // namespace qwenvl
