// What an Engine is made of: the loaded model folder, the media caches its requests share, and the
// scheduler of submitted requests, each knowing only the parts it uses.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "qwenvl/engine.h"
#include "runtime/media_caches.h"
#include "runtime/model_context.h"
#include "runtime/scheduler.h"

namespace qwenvl {

struct Engine::Impl {
  // Loads the folder (throws Error) and starts the scheduler's thread.
  explicit Impl(const EngineOptions& options,
                const std::function<void(int64_t, int64_t)>& on_layer_bound = nullptr);

  EngineOptions options;
  std::string model_name;  // the folder's base name
  double load_seconds = 0;
  runtime::ModelContext context;
  runtime::MediaCaches caches;
  // Last: destroyed first, so that its thread stops before the caches and the model go.
  runtime::Scheduler scheduler;
};

}  // namespace qwenvl
