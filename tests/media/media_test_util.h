// Helpers for the media tests: reading test files and a tiny safetensors reader (enough for the
// fixture files: U8 / F32 / I64 tensors, no validation beyond bounds).
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "media/image.h"

namespace qwenvl::media::testing {

inline std::string PreprocessData(const std::string& name) {
  return std::string(QWENVL_TEST_DATA) + "/preprocess/" + name;
}

inline std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

struct TestTensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  std::vector<float> floats() const {
    std::vector<float> v(bytes.size() / 4);
    std::memcpy(v.data(), bytes.data(), v.size() * 4);
    return v;
  }
  std::vector<int64_t> ints() const {
    std::vector<int64_t> v(bytes.size() / 8);
    std::memcpy(v.data(), bytes.data(), v.size() * 8);
    return v;
  }
  // A U8 [H, W, 3] tensor as an image.
  RgbImage image() const {
    RgbImage img;
    img.height = static_cast<int>(shape.at(0));
    img.width = static_cast<int>(shape.at(1));
    img.pixels = bytes;
    return img;
  }
};

inline std::map<std::string, TestTensor> ReadSafetensors(const std::string& path) {
  const std::vector<uint8_t> file = ReadBytes(path);
  if (file.size() < 8) throw std::runtime_error("short safetensors " + path);
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  if (n > file.size() - 8) throw std::runtime_error("bad header length in " + path);
  const auto header = nlohmann::json::parse(file.begin() + 8, file.begin() + 8 + n);
  std::map<std::string, TestTensor> out;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") continue;
    TestTensor t;
    t.dtype = v.at("dtype").get<std::string>();
    t.shape = v.at("shape").get<std::vector<int64_t>>();
    const uint64_t a = v.at("data_offsets")[0], b = v.at("data_offsets")[1];
    if (b < a || 8 + n + b > file.size()) throw std::runtime_error("bad offsets in " + path);
    t.bytes.assign(file.begin() + 8 + n + a, file.begin() + 8 + n + b);
    out.emplace(name, std::move(t));
  }
  return out;
}

inline nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(in);
}

}  // namespace qwenvl::media::testing
