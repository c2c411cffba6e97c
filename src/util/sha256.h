// SHA-256 (FIPS 180-4): checkpoint fingerprints and content keys for caches.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace qwenvl {

class Sha256 {
 public:
  Sha256();
  void Update(std::span<const uint8_t> data);
  void Update(std::string_view s) {
    Update(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }
  std::array<uint8_t, 32> Finish();
  std::string FinishHex();

 private:
  void Block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string Sha256Hex(std::span<const uint8_t> data);

}  // namespace qwenvl
