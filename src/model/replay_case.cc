#include "model/replay_case.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "io/safetensors.h"
#include "util/error.h"

namespace qwenvl::model {
namespace {

using nlohmann::json;

json ReadJson(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kNotFound, "cannot open case file " + path);
  std::stringstream text;
  text << in.rdbuf();
  try {
    return json::parse(text.str());
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kCorruptFile, path + ": invalid JSON: " + e.what());
  }
}

RefTensor CopyTensor(const io::TensorInfo& t) {
  RefTensor r;
  r.shape = t.shape;
  const auto n = static_cast<size_t>(t.numel());
  if (t.dtype == io::DType::kF32) {
    r.f32.resize(n);
    std::memcpy(r.f32.data(), t.data, n * sizeof(float));
  } else if (t.dtype == io::DType::kI64) {
    r.i64.resize(n);
    std::memcpy(r.i64.data(), t.data, n * sizeof(int64_t));
  }  // other types (the raw U8 frames) are not used by replay
  return r;
}

std::map<std::string, RefTensor> ReadTensors(const std::string& path) {
  io::SafetensorsFile file(path);
  std::map<std::string, RefTensor> out;
  for (const io::TensorInfo& t : file.tensors()) out[t.name] = CopyTensor(t);
  return out;
}

std::vector<GridThw> ReadGrids(const json& j, const char* key, const std::string& path) {
  std::vector<GridThw> grids;
  if (!j.contains(key)) return grids;
  for (const json& g : j.at(key)) {
    if (!g.is_array() || g.size() != 3) {
      throw Error(ErrorCode::kCorruptFile, path + ": " + key + " entries must be [t, h, w]");
    }
    grids.push_back({g[0].get<int64_t>(), g[1].get<int64_t>(), g[2].get<int64_t>()});
  }
  return grids;
}

// The token ids of j[key]. The fixtures write them as JSON integers of any size: each is checked
// before it is narrowed, so that an id beyond TokenId is an error naming the file instead of
// wrapping around to another token's (ids within it are checked against the vocabulary when
// embedded).
std::vector<TokenId> ReadTokenIds(const json& j, const char* key, const std::string& path) {
  std::vector<TokenId> ids;
  for (const int64_t value : j.at(key).get<std::vector<int64_t>>()) {
    if (!std::in_range<TokenId>(value))
      throw Error(ErrorCode::kCorruptFile, path + ": " + key + " holds " + std::to_string(value) +
                                               ", outside the range of token ids");
    ids.push_back(static_cast<TokenId>(value));
  }
  return ids;
}

// Concatenates NAME.pixel_values of each named item, in order.
std::vector<float> GatherPixels(const std::map<std::string, RefTensor>& inputs,
                                const std::vector<std::string>& names, const std::string& file) {
  std::vector<float> pixels;
  for (const std::string& name : names) {
    auto it = inputs.find(name + ".pixel_values");
    if (it == inputs.end() || it->second.f32.empty()) {
      throw Error(ErrorCode::kNotFound, file + ": no F32 tensor " + name + ".pixel_values");
    }
    pixels.insert(pixels.end(), it->second.f32.begin(), it->second.f32.end());
  }
  return pixels;
}

void ReadMedia(const json& j, const std::filesystem::path& dir, ReplayCase& c) {
  const auto images = j.value("images", std::vector<std::string>{});
  const auto videos = j.value("videos", std::vector<std::string>{});
  if (images.empty() && videos.empty()) return;
  if (!j.contains("inputs_file")) {
    throw Error(ErrorCode::kCorruptFile, c.path + ": names images or videos but no inputs_file");
  }
  const std::string file = (dir / j.at("inputs_file").get<std::string>()).string();
  const std::map<std::string, RefTensor> inputs = ReadTensors(file);
  c.image_pixels = GatherPixels(inputs, images, file);
  c.video_pixels = GatherPixels(inputs, videos, file);
}

}  // namespace

int64_t RefTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

PromptInput ReplayCase::Prompt() const {
  return {input_ids, {image_pixels, image_grids}, {video_pixels, video_grids}, second_per_grid_ts};
}

const RefTensor* ReplayCase::Find(const std::string& tensor) const {
  auto it = reference.find(tensor);
  return it == reference.end() ? nullptr : &it->second;
}

ReplayCase LoadReplayCase(const std::string& path) {
  const json j = ReadJson(path);
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  ReplayCase c;
  c.path = path;
  c.name = std::filesystem::path(path).stem().string();
  try {
    c.input_ids = ReadTokenIds(j, "input_ids", path);
    c.image_grids = ReadGrids(j, "image_grid_thw", path);
    c.video_grids = ReadGrids(j, "video_grid_thw", path);
    c.second_per_grid_ts = j.value("second_per_grid_ts", std::vector<double>{});
    if (j.contains("rope_delta")) c.rope_delta = j.at("rope_delta").get<int64_t>();
    if (j.contains("greedy_ids")) c.greedy_ids = ReadTokenIds(j, "greedy_ids", path);
    ReadMedia(j, dir, c);
    if (j.contains("reference")) {
      c.reference = ReadTensors((dir / j.at("reference").get<std::string>()).string());
    }
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kCorruptFile, path + ": " + e.what());
  }
  return c;
}

}  // namespace qwenvl::model
