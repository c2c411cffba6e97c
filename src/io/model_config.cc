#include "io/model_config.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <numeric>
#include <utility>

#include "util/error.h"
#include "util/mapped_file.h"

namespace qwenvl::io {

using nlohmann::json;

bool VisionConfig::IsFullAttentionBlock(int64_t i) const {
  return std::find(fullatt_block_indexes.begin(), fullatt_block_indexes.end(), i) !=
         fullatt_block_indexes.end();
}

namespace {

// Typed access to one JSON object with errors naming the file and the key path.
class Reader {
 public:
  Reader(const json& obj, std::string path, std::string prefix)
      : obj_(obj), path_(std::move(path)), prefix_(std::move(prefix)) {}

  const json* Find(const char* key) const {
    auto it = obj_.find(key);
    return it == obj_.end() || it->is_null() ? nullptr : &*it;
  }
  [[noreturn]] void Fail(const std::string& key, const std::string& what) const {
    throw Error(ErrorCode::kCorruptFile, path_ + ": " + prefix_ + key + " " + what);
  }
  int64_t Int(const char* key) const {
    const json* v = Find(key);
    if (v == nullptr) Fail(key, "is missing");
    return AsInt(key, *v, *v);
  }
  int64_t Int(const char* key, int64_t fallback) const { return Find(key) ? Int(key) : fallback; }
  double Number(const char* key) const {
    const json* v = Find(key);
    if (v == nullptr) Fail(key, "is missing");
    if (!v->is_number()) Fail(key, "must be a number, found " + v->dump());
    return v->get<double>();
  }
  double Number(const char* key, double fallback) const {
    return Find(key) ? Number(key) : fallback;
  }
  bool Bool(const char* key, bool fallback) const {
    const json* v = Find(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) Fail(key, "must be true or false, found " + v->dump());
    return v->get<bool>();
  }
  std::vector<int64_t> IntList(const char* key) const {
    const json* v = Find(key);
    if (v == nullptr) Fail(key, "is missing");
    std::vector<int64_t> out;
    if (v->is_number_integer()) return {AsInt(key, *v, *v)};
    if (!v->is_array()) Fail(key, "must be a list of integers, found " + v->dump());
    for (const auto& e : *v) {
      if (!e.is_number_integer()) Fail(key, "must be a list of integers, found " + v->dump());
      out.push_back(AsInt(key, e, *v));
    }
    return out;
  }
  // Token ids are checked before they are narrowed to TokenId, so that an id beyond its range is
  // an error instead of wrapping around to another token's.
  TokenId Id(const char* key) const { return ToTokenId(key, Int(key)); }
  std::vector<TokenId> IdList(const char* key) const {
    std::vector<TokenId> out;
    for (int64_t v : IntList(key)) out.push_back(ToTokenId(key, v));
    return out;
  }
  Reader Child(const char* key) const {
    const json* v = Find(key);
    if (v == nullptr) Fail(key, "is missing");
    if (!v->is_object()) Fail(key, "must be an object");
    return Reader(*v, path_, prefix_ + key + ".");
  }

 private:
  // An integer of the file as int64_t; one beyond it (an unsigned JSON integer past 2^63 − 1) is
  // refused rather than wrapped to a negative. `whole` is what the message shows.
  int64_t AsInt(const char* key, const json& v, const json& whole) const {
    if (!v.is_number_integer()) Fail(key, "must be an integer, found " + whole.dump());
    if (v.is_number_unsigned() && !std::in_range<int64_t>(v.get<uint64_t>()))
      Fail(key, "holds " + v.dump() + ", outside the range of integers");
    return v.get<int64_t>();
  }
  TokenId ToTokenId(const char* key, int64_t value) const {
    if (!std::in_range<TokenId>(value))
      Fail(key, "holds " + std::to_string(value) + ", outside the range of token ids");
    return static_cast<TokenId>(value);
  }

  const json& obj_;
  std::string path_;
  std::string prefix_;
};

// A key the file omits takes transformers' default (Qwen2_5_VLVisionConfig), as the reference
// stack does: the published 32B and 72B configs list only the keys that differ from those
// defaults (no depth, num_heads, patch_size, window_size, fullatt_block_indexes, ...).
VisionConfig ParseVision(const Reader& r) {
  VisionConfig v;
  v.depth = r.Int("depth", 32);
  v.hidden_size = r.Int("hidden_size", 3584);
  v.intermediate_size = r.Int("intermediate_size", 3420);
  v.num_heads = r.Int("num_heads", 16);
  v.in_channels = r.Int("in_chans", r.Int("in_channels", 3));
  v.out_hidden_size = r.Int("out_hidden_size", 3584);
  v.patch_size = r.Int("patch_size", 14);
  v.spatial_merge_size = r.Int("spatial_merge_size", 2);
  v.temporal_patch_size = r.Int("temporal_patch_size", 2);
  v.window_size = r.Int("window_size", 112);
  v.fullatt_block_indexes = r.Find("fullatt_block_indexes") ? r.IntList("fullatt_block_indexes")
                                                            : std::vector<int64_t>{7, 15, 23, 31};
  v.tokens_per_second = r.Number("tokens_per_second", 4);
  return v;
}

void ParseRope(const Reader& r, const char* key, TextConfig* t) {
  Reader rope = r.Child(key);
  t->mrope_section = rope.IntList("mrope_section");
  if (const json* type = rope.Find("rope_type") ? rope.Find("rope_type") : rope.Find("type")) {
    const std::string s = type->is_string() ? type->get<std::string>() : "";
    if (s != "mrope" && s != "default")
      rope.Fail("type", "is \"" + s + "\"; only plain M-RoPE is supported (no YaRN or scaling)");
  }
  if (rope.Find("rope_theta")) t->rope_theta = rope.Number("rope_theta");
}

TextConfig ParseText(const Reader& r) {
  TextConfig t;
  t.hidden_size = r.Int("hidden_size");
  t.intermediate_size = r.Int("intermediate_size");
  t.num_hidden_layers = r.Int("num_hidden_layers");
  t.num_attention_heads = r.Int("num_attention_heads");
  t.num_key_value_heads = r.Int("num_key_value_heads", t.num_attention_heads);
  t.vocab_size = r.Int("vocab_size");
  t.max_position_embeddings = r.Int("max_position_embeddings", 128000);
  t.rms_norm_eps = static_cast<float>(r.Number("rms_norm_eps"));
  t.rope_theta = r.Number("rope_theta", 1e6);
  if (r.Find("rope_scaling")) {
    ParseRope(r, "rope_scaling", &t);
  } else if (r.Find("rope_parameters")) {
    ParseRope(r, "rope_parameters", &t);
  } else {
    r.Fail("rope_scaling", "is missing (needed for mrope_section)");
  }
  return t;
}

void Require(bool ok, const std::string& path, const std::string& what) {
  if (!ok) throw Error(ErrorCode::kCorruptFile, path + ": " + what);
}

void CheckInvariants(const ModelConfig& c, const std::string& path) {
  const TextConfig& t = c.text;
  const VisionConfig& v = c.vision;
  for (int64_t x : {t.hidden_size, t.intermediate_size, t.num_hidden_layers, t.num_attention_heads,
                    t.num_key_value_heads, t.vocab_size, v.depth, v.hidden_size,
                    v.intermediate_size, v.num_heads, v.out_hidden_size, v.patch_size,
                    v.spatial_merge_size, v.temporal_patch_size, v.window_size, v.in_channels})
    Require(x > 0, path, "every size must be positive");
  Require(t.hidden_size % t.num_attention_heads == 0, path,
          "hidden_size " + std::to_string(t.hidden_size) +
              " is not a multiple of num_attention_heads " + std::to_string(t.num_attention_heads));
  Require(t.num_attention_heads % t.num_key_value_heads == 0, path,
          "num_attention_heads is not a multiple of num_key_value_heads");
  Require(t.head_dim() % 2 == 0, path, "text head_dim must be even");
  const int64_t sections = std::accumulate(t.mrope_section.begin(), t.mrope_section.end(), 0LL);
  Require(t.mrope_section.size() == 3 && sections == t.head_dim() / 2, path,
          "rope mrope_section must have 3 entries summing to head_dim/2 = " +
              std::to_string(t.head_dim() / 2) + ", sums to " + std::to_string(sections));
  Require(v.hidden_size % v.num_heads == 0, path,
          "vision_config.hidden_size is not a multiple of num_heads");
  Require(v.head_dim() % 4 == 0, path, "vision head_dim must be a multiple of 4 (2-D rotary)");
  Require(v.window_size % (v.patch_size * v.spatial_merge_size) == 0, path,
          "vision_config.window_size must be a multiple of patch_size × spatial_merge_size");
  for (int64_t i : v.fullatt_block_indexes)
    Require(i >= 0 && i < v.depth, path,
            "vision_config.fullatt_block_indexes holds " + std::to_string(i) + ", depth is " +
                std::to_string(v.depth));
  Require(v.out_hidden_size == t.hidden_size, path,
          "vision_config.out_hidden_size " + std::to_string(v.out_hidden_size) +
              " differs from the text hidden_size " + std::to_string(t.hidden_size));
  for (TokenId id : {c.image_token_id, c.video_token_id, c.vision_start_token_id})
    Require(id >= 0 && id < t.vocab_size, path, "special token id outside the vocabulary");
}

}  // namespace

ModelConfig ParseModelConfig(const std::string& json_text, const std::string& path) {
  json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw Error(ErrorCode::kCorruptFile, path + ": not a JSON object");
  Reader top(j, path, "");
  ModelConfig c;
  if (const json* mt = top.Find("model_type"); mt && mt->is_string())
    c.model_type = mt->get<std::string>();
  if (!c.model_type.empty() && c.model_type != "qwen2_5_vl")
    throw Error(ErrorCode::kUnsupported,
                path + ": model_type is \"" + c.model_type + "\", expected \"qwen2_5_vl\"");
  // Nested layout: text keys under text_config; token ids may sit at either level.
  const bool nested = top.Find("text_config") != nullptr;
  Reader text = nested ? top.Child("text_config") : top;
  c.text = ParseText(text);
  c.text.tie_word_embeddings =
      top.Bool("tie_word_embeddings", text.Bool("tie_word_embeddings", false));
  c.vision = ParseVision(top.Child("vision_config"));
  auto id = [&](const char* key) { return top.Find(key) ? top.Id(key) : text.Id(key); };
  c.bos_token_id = top.Find("bos_token_id") || text.Find("bos_token_id") ? id("bos_token_id") : -1;
  c.eos_token_ids =
      top.Find("eos_token_id") ? top.IdList("eos_token_id") : text.IdList("eos_token_id");
  c.vision_start_token_id = id("vision_start_token_id");
  c.vision_end_token_id = id("vision_end_token_id");
  c.vision_token_id =
      top.Find("vision_token_id") || text.Find("vision_token_id") ? id("vision_token_id") : -1;
  c.image_token_id = id("image_token_id");
  c.video_token_id = id("video_token_id");
  CheckInvariants(c, path);
  return c;
}

ModelConfig LoadModelConfig(const std::string& model_dir) {
  const std::string path = model_dir + "/config.json";
  return ParseModelConfig(ReadFileToString(path), path);
}

}  // namespace qwenvl::io
