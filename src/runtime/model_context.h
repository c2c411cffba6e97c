// What a loaded model folder is: the weights on their compute backend and thread pool, the text
// side (tokenizer, chat template), the media settings, the generation defaults, and the lock that
// lets one forward pass at a time onto the pool. Shared by every request of an engine; knows
// nothing of how requests are scheduled or what is cached between them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "compute/backend.h"
#include "model/qwen2_5_vl.h"
#include "qwenvl/engine.h"
#include "runtime/constraint.h"
#include "runtime/generation_config.h"
#include "runtime/media_input.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"
#include "util/thread_pool.h"

namespace qwenvl::runtime {

struct ModelContext {
  // Loads options.model_dir (weights, tokenizer, chat template, preprocessor and generation
  // configs, in that order). Throws Error naming the file and the problem.
  // on_layer_bound: model::ModelOptions::on_layer_bound (load progress).
  explicit ModelContext(const EngineOptions& options,
                        const std::function<void(int64_t, int64_t)>& on_layer_bound = nullptr);
  ModelContext(const ModelContext&) = delete;
  ModelContext& operator=(const ModelContext&) = delete;

  // Prompt text after the chat template, before placeholder expansion.
  std::string Render(const Request& request) const;

  int64_t context_length;  // KV-cache capacity of each sequence, in tokens
  // Declared before the model: the model's weights and buffers live in the backend, which runs on
  // the pool, so they go in the reverse order.
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<compute::Backend> backend;
  // The quantized-weight cache the load used (null: none); its file mappings back the weights.
  std::unique_ptr<compute::WeightCache> weight_cache;
  std::unique_ptr<model::Model> model;
  text::Tokenizer tokenizer;
  text::ChatTemplate chat_template;
  MediaSettings media_settings;
  GenerationDefaults generation_defaults;  // generation_config.json
  ConstraintCache constraints;             // compiled Request::constraint texts
  // One forward pass at a time on the pool. Recursive: the scheduler runs decode steps between the
  // vision encoder's blocks of a request it is admitting, under the same lock.
  std::recursive_mutex compute_mu;
};

}  // namespace qwenvl::runtime
