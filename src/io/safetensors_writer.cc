#include "io/safetensors_writer.h"

#include <cstdio>
#include <cstring>
#include <memory>

#include "util/error.h"

namespace qwenvl::io {

size_t TensorSpec::nbytes() const {
  size_t n = DTypeSize(dtype);
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

namespace {

std::string HeaderJson(const std::vector<TensorSpec>& specs) {
  // Built with append() only: GCC 12 reports a false -Wrestrict on chained operator+ here.
  std::string h = "{";
  size_t offset = 0;
  for (const auto& s : specs) {
    h.append("\"").append(s.name).append("\":{\"dtype\":\"").append(DTypeName(s.dtype));
    h.append("\",\"shape\":[");
    for (size_t i = 0; i < s.shape.size(); ++i) {
      if (i) h.append(",");
      h.append(std::to_string(s.shape[i]));
    }
    const size_t end = offset + s.nbytes();
    h.append("],\"data_offsets\":[").append(std::to_string(offset)).append(",");
    h.append(std::to_string(end)).append("]},");
    offset = end;
  }
  h.append("\"__metadata__\":{\"format\":\"pt\"}}");
  h.append((8 - h.size() % 8) % 8, ' ');
  return h;
}

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};

}  // namespace

void WriteSafetensorsChunked(const std::string& path, const std::vector<TensorSpec>& specs,
                             const std::function<void(size_t, const ChunkWriter&)>& produce) {
  std::unique_ptr<FILE, FileCloser> f(std::fopen(path.c_str(), "wb"));
  if (!f) throw Error(ErrorCode::kIo, path + ": cannot create: " + std::strerror(errno));
  const std::string header = HeaderJson(specs);
  uint8_t len[8];
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  bool ok = std::fwrite(len, 1, 8, f.get()) == 8 &&
            std::fwrite(header.data(), 1, header.size(), f.get()) == header.size();
  for (size_t i = 0; ok && i < specs.size(); ++i) {
    size_t written = 0;
    produce(i, [&](std::span<const uint8_t> piece) {
      QWENVL_CHECK(written + piece.size() <= specs[i].nbytes());
      if (ok) ok = std::fwrite(piece.data(), 1, piece.size(), f.get()) == piece.size();
      written += piece.size();
    });
    QWENVL_CHECK(!ok || written == specs[i].nbytes());
  }
  if (!ok || std::fflush(f.get()) != 0)
    throw Error(ErrorCode::kIo, path + ": write failed: " + std::strerror(errno));
}

void WriteSafetensors(const std::string& path, const std::vector<TensorSpec>& specs,
                      const std::function<void(size_t, std::vector<uint8_t>&)>& produce) {
  std::vector<uint8_t> bytes;
  WriteSafetensorsChunked(path, specs, [&](size_t i, const ChunkWriter& write) {
    bytes.clear();
    produce(i, bytes);
    QWENVL_CHECK(bytes.size() == specs[i].nbytes());
    write(bytes);
  });
}

void WriteSafetensors(const std::string& path, const std::vector<OwnedTensor>& tensors) {
  std::vector<TensorSpec> specs;
  for (const auto& t : tensors) specs.push_back(t.spec);
  WriteSafetensors(path, specs,
                   [&](size_t i, std::vector<uint8_t>& out) { out = tensors[i].bytes; });
}

}  // namespace qwenvl::io
