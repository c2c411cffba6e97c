// Reading the vision parts of the reference fixtures in tests/data/model (fixtures README): pixel
// inputs, case metadata and reference tensors, for the vision encoder tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "model/grid.h"

namespace qwenvl::model::testing {

inline const std::string kModelData = QWENVL_TEST_DATA "/model";

inline const io::TensorInfo& FixtureTensor(const io::SafetensorsFile& f, const std::string& name) {
  for (const io::TensorInfo& t : f.tensors()) {
    if (t.name == name) return t;
  }
  throw std::runtime_error(f.path() + ": no tensor " + name);
}

template <class T>
std::vector<T> FixtureValues(const io::SafetensorsFile& f, const std::string& name) {
  const io::TensorInfo& t = FixtureTensor(f, name);
  std::vector<T> out(t.nbytes / sizeof(T));
  std::memcpy(out.data(), t.data, t.nbytes);
  return out;
}

// One forward case (MODEL.CASE.json): its vision items in prompt order, images before videos as
// the reference encodes them.
struct VisionCase {
  std::string model;
  std::vector<std::string> items;  // names in inputs.safetensors
  std::vector<GridThw> grids;
};

inline VisionCase LoadVisionCase(const std::string& name) {
  std::ifstream in(kModelData + "/" + name + ".json");
  const nlohmann::json j = nlohmann::json::parse(in);
  VisionCase c;
  c.model = j.at("model").get<std::string>();
  for (const char* kind : {"images", "videos"}) {
    for (const auto& item : j.at(kind)) c.items.push_back(item.get<std::string>());
  }
  for (const char* key : {"image_grid_thw", "video_grid_thw"}) {
    for (const auto& g : j.at(key)) c.grids.push_back({g[0].get<int64_t>(), g[1], g[2]});
  }
  return c;
}

// The case's pixel_values, all items concatenated.
inline std::vector<float> LoadPixelValues(const VisionCase& c) {
  io::SafetensorsFile inputs(kModelData + "/inputs.safetensors");
  std::vector<float> out;
  for (const std::string& item : c.items) {
    const std::vector<float> v = FixtureValues<float>(inputs, item + ".pixel_values");
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

}  // namespace qwenvl::model::testing
