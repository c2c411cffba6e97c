// Reading safetensors files: the header is parsed and checked once, tensor data stays in a
// read-only memory mapping (no copy for the stored dtype). A TensorStore gathers the tensors of a
// model folder, single-file or sharded (model.safetensors.index.json), under their canonical
// published names.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/dtype.h"
#include "util/mapped_file.h"

namespace qwenvl::io {

struct TensorInfo {
  std::string name;  // canonical name (published layout)
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the mapping
  size_t nbytes = 0;
  std::string file;  // the file it lives in, for error messages

  int64_t numel() const;
  std::string ShapeString() const;  // "[3420, 1280]"
};

// One tensor entry as a header describes it, offsets relative to the data section.
struct HeaderEntry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin;
  uint64_t end;
};

// Parses and validates a safetensors header against a file of file_size bytes: JSON shape, known
// dtypes, offsets inside the data section, sizes equal to shape × dtype, no overlaps. Throws Error
// naming `path`. header_json excludes the 8-byte length prefix. Exposed for fuzzing.
std::vector<HeaderEntry> ParseSafetensorsHeader(std::string_view header_json, uint64_t data_size,
                                                const std::string& path);

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::string& path() const { return file_.path(); }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  MappedFile file_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Maps the names newer transformers versions write to the published ones:
// model.language_model.X -> model.X, model.visual.X -> visual.X.
std::string CanonicalTensorName(const std::string& name);

class TensorStore {
 public:
  // Opens model.safetensors.index.json (sharded) or model.safetensors in dir.
  static TensorStore OpenModelDir(const std::string& dir);
  // Opens the given files as one store (names must not repeat).
  static TensorStore OpenFiles(const std::vector<std::string>& paths);

  const TensorInfo* Find(const std::string& canonical_name) const;
  // Like Find, but throws Error(kNotFound) naming the tensor.
  const TensorInfo& Get(const std::string& canonical_name) const;
  std::vector<std::string> Names() const;
  size_t size() const { return by_name_.size(); }
  uint64_t total_bytes() const;

 private:
  void AddFile(const std::string& path);
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorInfo*> by_name_;
};

}  // namespace qwenvl::io
