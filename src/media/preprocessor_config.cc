#include "media/preprocessor_config.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "util/error.h"

namespace qwenvl::media {
namespace {

using nlohmann::json;

[[noreturn]] void Bad(const std::string& origin, const std::string& what) {
  throw Error(ErrorCode::kCorruptFile, origin + ": " + what);
}

int64_t PositiveInt(const json& j, const char* key, const std::string& origin) {
  const json& v = j.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() <= 0) {
    Bad(origin, std::string("'") + key + "' must be a positive integer, got " + v.dump());
  }
  return v.get<int64_t>();
}

std::array<float, 3> Triple(const json& j, const char* key, const std::string& origin) {
  const json& v = j.at(key);
  if (!v.is_array() || v.size() != 3 || !v[0].is_number() || !v[1].is_number() ||
      !v[2].is_number()) {
    Bad(origin, std::string("'") + key + "' must be a list of 3 numbers, got " + v.dump());
  }
  return {v[0].get<float>(), v[1].get<float>(), v[2].get<float>()};
}

}  // namespace

PatchifyOptions PreprocessorConfig::patchify_options() const {
  PatchifyOptions o;
  o.patch_size = patch_size;
  o.merge_size = merge_size;
  o.temporal_patch = temporal_patch_size;
  o.image_mean = image_mean;
  o.image_std = image_std;
  return o;
}

PreprocessorConfig ParsePreprocessorConfig(const std::string& json_text,
                                           const std::string& origin) {
  json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) Bad(origin, "not a JSON object");
  PreprocessorConfig c;
  const json* size = j.contains("size") && j["size"].is_object() ? &j["size"] : nullptr;
  if (j.contains("min_pixels") && !j["min_pixels"].is_null()) {
    c.min_pixels = PositiveInt(j, "min_pixels", origin);
  } else if (size != nullptr && size->contains("shortest_edge")) {
    c.min_pixels = PositiveInt(*size, "shortest_edge", origin);
  } else {
    c.min_pixels = kProcessorClassMinPixels;
  }
  if (j.contains("max_pixels") && !j["max_pixels"].is_null()) {
    c.max_pixels = PositiveInt(j, "max_pixels", origin);
  } else if (size != nullptr && size->contains("longest_edge")) {
    c.max_pixels = PositiveInt(*size, "longest_edge", origin);
  } else {
    c.max_pixels = kProcessorClassMaxPixels;
  }
  if (c.min_pixels > c.max_pixels) Bad(origin, "min_pixels is larger than max_pixels");
  if (j.contains("patch_size"))
    c.patch_size = static_cast<int>(PositiveInt(j, "patch_size", origin));
  if (j.contains("merge_size"))
    c.merge_size = static_cast<int>(PositiveInt(j, "merge_size", origin));
  if (j.contains("temporal_patch_size")) {
    c.temporal_patch_size = static_cast<int>(PositiveInt(j, "temporal_patch_size", origin));
  }
  if (j.contains("image_mean")) c.image_mean = Triple(j, "image_mean", origin);
  if (j.contains("image_std")) c.image_std = Triple(j, "image_std", origin);
  for (float s : c.image_std) {
    if (!(s > 0.0f)) Bad(origin, "image_std values must be positive");
  }
  if (c.patch_size > 1024 || c.merge_size > 64 || c.temporal_patch_size > 64) {
    Bad(origin, "patch_size, merge_size or temporal_patch_size is implausibly large");
  }
  return c;
}

PreprocessorConfig LoadPreprocessorConfig(const std::string& path) {
  std::string file = path;
  if (std::filesystem::is_directory(path)) {
    file = (std::filesystem::path(path) / "preprocessor_config.json").string();
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(ErrorCode::kNotFound, "cannot open preprocessor config '" + file + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParsePreprocessorConfig(ss.str(), file);
}

}  // namespace qwenvl::media
