#include "compute/backends.h"

#include "compute/cpu_backend.h"
#include "compute/reference_backend.h"
#include "util/error.h"

namespace qwenvl::compute {

std::vector<std::string> BackendNames() { return {"cpu", "reference"}; }

std::unique_ptr<Backend> MakeBackend(std::string_view name, ThreadPool& pool,
                                     const KernelChoiceOptions& kernels) {
  if (name == "cpu") return std::make_unique<CpuBackend>(pool, kernels);
  if (name == "reference") return std::make_unique<ReferenceBackend>(pool);
  std::string known;
  for (const std::string& n : BackendNames()) known += (known.empty() ? "" : ", ") + n;
  throw Error(ErrorCode::kInvalidArgument,
              "unknown backend '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace qwenvl::compute
