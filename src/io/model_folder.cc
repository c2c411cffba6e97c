#include "io/model_folder.h"

#include <filesystem>

#include "util/error.h"

namespace qwenvl::io {

ModelFolder ModelFolder::Open(const std::string& dir) {
  if (!std::filesystem::is_directory(dir))
    throw Error(ErrorCode::kNotFound, dir + ": model folder not found (not a directory)");
  ModelFolder m;
  m.dir = dir;
  m.config = LoadModelConfig(dir);
  m.tensors = TensorStore::OpenModelDir(dir);
  m.report = ValidateCheckpoint(m.tensors, m.config, dir);
  return m;
}

}  // namespace qwenvl::io
