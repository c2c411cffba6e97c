// What identifies a checkpoint's weight files for caches derived from them (the quantized-weight
// cache): a key that changes whenever a file's content may have changed, and a stable name of the
// model folder under which one derived copy is kept.
#pragma once

#include <string>

namespace qwenvl::io {

struct CheckpointIdentity {
  // One line per *.safetensors file of the folder, by name: for a file that resolves to a blob of
  // the Hugging Face cache (…/blobs/<64 hex>, the blob named by its sha256), that hash; otherwise
  // its resolved path, size and modification time (nanoseconds).
  std::string key;
  // A file name stem for the model: the folder's name and a hash of its resolved path (for a
  // snapshot of the Hugging Face cache, of the repository folder above snapshots/, so that every
  // revision shares one stem and a new revision replaces the old copy).
  std::string stem;
};

// Throws Error(kNotFound) when dir has no *.safetensors file.
CheckpointIdentity IdentifyCheckpoint(const std::string& dir);

}  // namespace qwenvl::io
