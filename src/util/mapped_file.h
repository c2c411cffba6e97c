// A read-only memory mapping of a whole file (RAII). Weights are used straight from the mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace qwenvl {

class MappedFile {
 public:
  MappedFile() = default;
  // Throws Error(kIo / kNotFound) naming the path.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void Release();
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Reads a whole file into a string. Throws Error naming the path.
std::string ReadFileToString(const std::string& path);
bool FileExists(const std::string& path);

}  // namespace qwenvl
