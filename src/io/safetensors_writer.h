// Writing safetensors files, tensor by tensor, so that multi-gigabyte checkpoints are never held in
// memory whole. The header is written first (it needs every shape), then each tensor's bytes in
// order.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "io/dtype.h"

namespace qwenvl::io {

struct TensorSpec {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  size_t nbytes() const;
};

// Writes `path` with the given tensors in order; produce(i, out) fills out with tensor i's bytes
// (out arrives empty and must end with exactly specs[i].nbytes() bytes). The header has no spaces,
// entries in the given order, "__metadata__": {"format": "pt"} last, padded with spaces to a
// multiple of 8 — the layout torch's safetensors writer produces.
void WriteSafetensors(const std::string& path, const std::vector<TensorSpec>& specs,
                      const std::function<void(size_t, std::vector<uint8_t>&)>& produce);

// The same with each tensor's bytes handed over in pieces: produce(i, write) calls write as often
// as it likes, the pieces of tensor i together exactly specs[i].nbytes() bytes (checked), so that a
// tensor made piece by piece (a video's patches, one temporal slice at a time) is never held whole.
using ChunkWriter = std::function<void(std::span<const uint8_t>)>;
void WriteSafetensorsChunked(const std::string& path, const std::vector<TensorSpec>& specs,
                             const std::function<void(size_t, const ChunkWriter&)>& produce);

// Convenience for small in-memory tensors.
struct OwnedTensor {
  TensorSpec spec;
  std::vector<uint8_t> bytes;
};
void WriteSafetensors(const std::string& path, const std::vector<OwnedTensor>& tensors);

template <class T>
OwnedTensor MakeTensor(std::string name, DType dtype, std::vector<int64_t> shape,
                       std::span<const T> values) {
  OwnedTensor t{{std::move(name), dtype, std::move(shape)}, {}};
  const auto* p = reinterpret_cast<const uint8_t*>(values.data());
  t.bytes.assign(p, p + values.size_bytes());
  return t;
}

}  // namespace qwenvl::io
