#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "util/error.h"

namespace qwenvl::io {

using nlohmann::json;

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorInfo::ShapeString() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace {

[[noreturn]] void Corrupt(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::kCorruptFile, path + ": " + what);
}

HeaderEntry ParseEntry(const std::string& name, const json& e, uint64_t data_size,
                       const std::string& path) {
  const std::string where = "tensor " + name + ": ";
  if (!e.is_object()) Corrupt(path, where + "header entry is not an object");
  auto dtype_it = e.find("dtype");
  auto shape_it = e.find("shape");
  auto offs_it = e.find("data_offsets");
  if (dtype_it == e.end() || !dtype_it->is_string()) Corrupt(path, where + "missing dtype");
  if (shape_it == e.end() || !shape_it->is_array()) Corrupt(path, where + "missing shape");
  if (offs_it == e.end() || !offs_it->is_array() || offs_it->size() != 2)
    Corrupt(path, where + "data_offsets must be [begin, end]");
  HeaderEntry out;
  out.name = name;
  auto dtype = ParseDType(dtype_it->get<std::string>());
  if (!dtype) Corrupt(path, where + "unknown dtype " + dtype_it->get<std::string>());
  out.dtype = *dtype;
  // numel × size must not overflow: bound each dimension by the data size.
  unsigned __int128 bytes = DTypeSize(out.dtype);
  for (const auto& d : *shape_it) {
    if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0))
      Corrupt(path, where + "shape holds a value that is not a non-negative integer");
    const uint64_t v = d.get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) Corrupt(path, where + "shape dimension too large");
    out.shape.push_back(static_cast<int64_t>(v));
    bytes *= v;  // both factors < 2^64: no 128-bit overflow; saturate to keep it that way
    if (bytes > std::numeric_limits<uint64_t>::max()) bytes = std::numeric_limits<uint64_t>::max();
  }
  for (const auto& o : *offs_it)
    if (!o.is_number_unsigned() && !(o.is_number_integer() && o.get<int64_t>() >= 0))
      Corrupt(path, where + "data_offsets must be non-negative integers");
  out.begin = (*offs_it)[0].get<uint64_t>();
  out.end = (*offs_it)[1].get<uint64_t>();
  if (out.begin > out.end) Corrupt(path, where + "data_offsets begin > end");
  if (out.end > data_size)
    Corrupt(path, where + "data_offsets end " + std::to_string(out.end) +
                      " is past the data section (" + std::to_string(data_size) +
                      " bytes; truncated file?)");
  if (bytes != out.end - out.begin)
    Corrupt(path, where + "holds " + std::to_string(out.end - out.begin) + " bytes, shape × " +
                      DTypeName(out.dtype) + " needs " +
                      std::to_string(static_cast<uint64_t>(bytes)));
  return out;
}

}  // namespace

std::vector<HeaderEntry> ParseSafetensorsHeader(std::string_view header_json, uint64_t data_size,
                                                const std::string& path) {
  json header = json::parse(header_json.begin(), header_json.end(), nullptr, false);
  if (header.is_discarded() || !header.is_object()) Corrupt(path, "header is not a JSON object");
  std::vector<HeaderEntry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    entries.push_back(ParseEntry(it.key(), it.value(), data_size, path));
  }
  std::vector<const HeaderEntry*> by_offset;
  for (const auto& e : entries)
    if (e.end > e.begin) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const HeaderEntry* a, const HeaderEntry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->begin < by_offset[i - 1]->end)
      Corrupt(path, "tensors " + by_offset[i - 1]->name + " and " + by_offset[i]->name +
                        " overlap in the data section");
  return entries;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
  const uint64_t size = file_.size();
  if (size < 8) Corrupt(path, "file is " + std::to_string(size) + " bytes, too short for a header");
  uint64_t header_len = 0;
  std::memcpy(&header_len, file_.data(), 8);  // little-endian on every supported host
  if (header_len > size - 8)
    Corrupt(path, "header length " + std::to_string(header_len) + " exceeds the file size " +
                      std::to_string(size) + " (truncated file?)");
  std::string_view header(reinterpret_cast<const char*>(file_.data() + 8), header_len);
  const uint64_t data_start = 8 + header_len;
  auto entries = ParseSafetensorsHeader(header, size - data_start, path);
  json parsed = json::parse(header, nullptr, false);
  if (auto m = parsed.find("__metadata__"); m != parsed.end() && m->is_object())
    for (auto it = m->begin(); it != m->end(); ++it)
      if (it->is_string()) metadata_[it.key()] = it->get<std::string>();
  for (auto& e : entries) {
    TensorInfo t;
    t.name = CanonicalTensorName(e.name);
    t.dtype = e.dtype;
    t.shape = std::move(e.shape);
    t.data = file_.data() + data_start + e.begin;
    t.nbytes = e.end - e.begin;
    t.file = path;
    tensors_.push_back(std::move(t));
  }
}

std::string CanonicalTensorName(const std::string& name) {
  static const std::string kLm = "model.language_model.";
  static const std::string kVis = "model.visual.";
  if (name.rfind(kLm, 0) == 0) return "model." + name.substr(kLm.size());
  if (name.rfind(kVis, 0) == 0) return "visual." + name.substr(kVis.size());
  return name;
}

void TensorStore::AddFile(const std::string& path) {
  files_.push_back(std::make_unique<SafetensorsFile>(path));
  for (const auto& t : files_.back()->tensors()) {
    auto [it, inserted] = by_name_.emplace(t.name, &t);
    if (!inserted)
      throw Error(ErrorCode::kCorruptFile,
                  path + ": tensor " + t.name + " also appears in " + it->second->file);
  }
}

TensorStore TensorStore::OpenFiles(const std::vector<std::string>& paths) {
  TensorStore store;
  for (const auto& p : paths) store.AddFile(p);
  return store;
}

TensorStore TensorStore::OpenModelDir(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  const fs::path single = fs::path(dir) / "model.safetensors";
  if (!fs::exists(index)) {
    if (!fs::exists(single))
      throw Error(
          ErrorCode::kNotFound,
          dir + ": no model.safetensors or model.safetensors.index.json in the model folder");
    return OpenFiles({single.string()});
  }
  json j = json::parse(ReadFileToString(index.string()), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") ||
      !j["weight_map"].is_object())
    throw Error(ErrorCode::kCorruptFile, index.string() + ": no weight_map object");
  std::set<std::string> shards;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it->is_string())
      throw Error(ErrorCode::kCorruptFile,
                  index.string() + ": weight_map." + it.key() + " is not a file name");
    const std::string shard = it->get<std::string>();
    if (shard.find('/') != std::string::npos || shard == "..")
      throw Error(ErrorCode::kCorruptFile,
                  index.string() + ": shard name " + shard + " is not a plain file name");
    shards.insert(shard);
  }
  TensorStore store;
  for (const auto& s : shards) {
    const fs::path p = fs::path(dir) / s;
    if (!fs::exists(p))
      throw Error(ErrorCode::kNotFound, index.string() + ": shard " + s + " is missing");
    store.AddFile(p.string());
  }
  // Every name the index promises must be in the shard it names.
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    const TensorInfo* t = store.Find(CanonicalTensorName(it.key()));
    if (t == nullptr || fs::path(t->file).filename() != it->get<std::string>())
      throw Error(ErrorCode::kCorruptFile, index.string() + ": tensor " + it.key() +
                                               " is not in shard " + it->get<std::string>());
  }
  return store;
}

const TensorInfo* TensorStore::Find(const std::string& canonical_name) const {
  auto it = by_name_.find(canonical_name);
  return it == by_name_.end() ? nullptr : it->second;
}

const TensorInfo& TensorStore::Get(const std::string& canonical_name) const {
  const TensorInfo* t = Find(canonical_name);
  if (t == nullptr) throw Error(ErrorCode::kNotFound, "tensor " + canonical_name + " not found");
  return *t;
}

std::vector<std::string> TensorStore::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, t] : by_name_) names.push_back(name);
  return names;
}

uint64_t TensorStore::total_bytes() const {
  uint64_t total = 0;
  for (const auto& [name, t] : by_name_) total += t->nbytes;
  return total;
}

}  // namespace qwenvl::io
