// The backends this build has, by name (the --backend option of the command line and
// EngineOptions::backend).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "compute/backend.h"
#include "compute/kernel_choice.h"
#include "util/thread_pool.h"

namespace qwenvl::compute {

// "cpu" (the default) and "reference".
std::vector<std::string> BackendNames();

// A backend by name, over pool (which must outlive it); `kernels` applies to "cpu". Throws
// Error(kInvalidArgument) naming the known backends for any other name, or for a bad kernel spec.
std::unique_ptr<Backend> MakeBackend(std::string_view name, ThreadPool& pool,
                                     const KernelChoiceOptions& kernels = {});

}  // namespace qwenvl::compute
