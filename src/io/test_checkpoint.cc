#include "io/test_checkpoint.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/safetensors_writer.h"
#include "qwenvl/token_id.h"
#include "util/bf16.h"
#include "util/error.h"
#include "util/mapped_file.h"
#include "util/thread_pool.h"

namespace qwenvl::io {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

struct Sizes {
  int64_t hidden, layers, heads, kv_heads, ffn, vocab;
  std::vector<int64_t> mrope;
  bool tie;
  int64_t v_depth, v_hidden, v_heads, v_ffn;
  std::vector<int64_t> fullatt;
  std::vector<TokenId> ids;  // bos, eos, vision_start, vision_end, vision, image, video
};

// The layout of the fixture generator's config.json (gen_tiny.py config_json).
std::string SmallConfigJson(const Sizes& s) {
  ojson c;
  c["architectures"] = {"Qwen2_5_VLForConditionalGeneration"};
  c["attention_dropout"] = 0.0;
  c["bos_token_id"] = s.ids[0];
  c["eos_token_id"] = s.ids[1];
  c["vision_start_token_id"] = s.ids[2];
  c["vision_end_token_id"] = s.ids[3];
  c["vision_token_id"] = s.ids[4];
  c["image_token_id"] = s.ids[5];
  c["video_token_id"] = s.ids[6];
  c["hidden_act"] = "silu";
  c["hidden_size"] = s.hidden;
  c["initializer_range"] = 0.02;
  c["intermediate_size"] = s.ffn;
  c["max_position_embeddings"] = 128000;
  c["max_window_layers"] = 70;
  c["model_type"] = "qwen2_5_vl";
  c["num_attention_heads"] = s.heads;
  c["num_hidden_layers"] = s.layers;
  c["num_key_value_heads"] = s.kv_heads;
  c["rms_norm_eps"] = 1e-06;
  c["rope_theta"] = 1000000.0;
  c["sliding_window"] = 32768;
  c["tie_word_embeddings"] = s.tie;
  c["torch_dtype"] = "bfloat16";
  c["use_cache"] = true;
  c["use_sliding_window"] = false;
  ojson v;
  v["depth"] = s.v_depth;
  v["hidden_act"] = "silu";
  v["hidden_size"] = s.v_hidden;
  v["intermediate_size"] = s.v_ffn;
  v["num_heads"] = s.v_heads;
  v["in_chans"] = 3;
  v["out_hidden_size"] = s.hidden;
  v["patch_size"] = 14;
  v["spatial_merge_size"] = 2;
  v["spatial_patch_size"] = 14;
  v["window_size"] = 112;
  v["fullatt_block_indexes"] = s.fullatt;
  v["tokens_per_second"] = 2;
  v["temporal_patch_size"] = 2;
  c["vision_config"] = v;
  c["rope_scaling"] = {{"type", "mrope"}, {"mrope_section", s.mrope}};
  c["vocab_size"] = s.vocab;
  return c.dump(2);
}

const std::vector<TokenId> kRealIds = {151643, 151645, 151652, 151653, 151654, 151655, 151656};

// The published shapes (model-spec §1.4) on the published 3B file's keys. The 32B and 72B shapes
// keep every width of the published files, text and vision, but have two decoder layers and a
// four-block vision tower (blocks 1 and 3 full attention, 0 and 2 windowed): 5.3 and 8.8 GB that a
// test can write, load and run, where the published models hold 33 and 73 billion parameters. The
// 152064-row embedding and the untied head keep their full size. Their rope_scaling is written
// the way those files write it (rope_type "default" beside type and mrope_section).
struct PublishedShape {
  const char* name;
  int64_t hidden, ffn, layers, heads, kv_heads, max_window_layers;
  int64_t v_ffn, v_depth;
  std::vector<int64_t> fullatt;
  bool newer_rope_keys;
};

const PublishedShape kPublishedShapes[] = {
    {"7b", 3584, 18944, 28, 28, 4, 28, 3420, 32, {7, 15, 23, 31}, false},
    {"32b-shape", 5120, 27648, 2, 40, 8, 64, 3456, 4, {1, 3}, true},
    {"72b-shape", 8192, 29568, 2, 64, 8, 80, 3456, 4, {1, 3}, true},
};

std::string PublishedShapeConfig(const std::string& name, const std::string& config_3b) {
  if (name == "3b") return config_3b;
  for (const PublishedShape& s : kPublishedShapes) {
    if (name != s.name) continue;
    ojson c = ojson::parse(config_3b);
    c["hidden_size"] = s.hidden;
    c["intermediate_size"] = s.ffn;
    c["num_hidden_layers"] = s.layers;
    c["num_attention_heads"] = s.heads;
    c["num_key_value_heads"] = s.kv_heads;
    c["max_window_layers"] = s.max_window_layers;
    c["tie_word_embeddings"] = false;
    c["vocab_size"] = 152064;
    ojson& v = c["vision_config"];
    v["depth"] = s.v_depth;
    v["intermediate_size"] = s.v_ffn;
    v["out_hidden_size"] = s.hidden;
    v["fullatt_block_indexes"] = s.fullatt;
    if (s.newer_rope_keys) {
      c["rope_scaling"] = {
          {"mrope_section", {16, 24, 24}}, {"rope_type", "default"}, {"type", "default"}};
    }
    return c.dump(2);
  }
  throw Error(ErrorCode::kInvalidArgument, "preset \"" + name + "\" has no published shape");
}

}  // namespace

std::vector<std::string> TestModelPresetNames() {
  return {"tiny", "small", "3b", "7b", "32b-shape", "72b-shape"};
}

TestModelPreset GetTestModelPreset(const std::string& name) {
  TestModelPreset p;
  p.name = name;
  if (name == "tiny") {
    p.seed = 1;
    p.config_json = SmallConfigJson(
        {64, 2, 4, 2, 160, 151936, {2, 3, 3}, true, 4, 160, 2, 216, {1, 3}, kRealIds});
  } else if (name == "small") {
    p.seed = 2;
    p.full_vocabulary = false;
    p.config_json = SmallConfigJson({512,
                                     2,
                                     4,
                                     2,
                                     688,
                                     2048,
                                     {16, 24, 24},
                                     false,
                                     4,
                                     320,
                                     4,
                                     856,
                                     {1, 3},
                                     {2000, 2001, 2002, 2003, 2004, 2005, 2006}});
  } else if (name == "3b" || name == "7b") {
    p.seed = name == "3b" ? 3 : 7;
    p.num_shards = name == "3b" ? 2 : 5;  // as published
  } else if (name == "32b-shape" || name == "72b-shape") {
    p.seed = name == "32b-shape" ? 32 : 72;
    p.num_shards = name == "32b-shape" ? 2 : 3;  // 2.7 and 2.9 GB a shard on average
  } else {
    std::string names;
    for (const std::string& n : TestModelPresetNames()) names += (names.empty() ? "" : ", ") + n;
    throw Error(ErrorCode::kInvalidArgument,
                "unknown preset \"" + name + "\" (expected one of " + names + ")");
  }
  return p;
}

uint64_t Fnv1a64(const std::string& s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char b : s) {
    h ^= b;
    h *= 0x100000001B3ull;
  }
  return h;
}

float TestTensorValue(uint64_t key, int64_t i, InitKind kind, int64_t fan_in) {
  uint64_t z = key + static_cast<uint64_t>(i + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  const double u = static_cast<double>(z >> 11) * 0x1.0p-53;
  const double s = 2 * u - 1;
  switch (kind) {
    case InitKind::kNorm:
      return static_cast<float>(1.0 + s * 0.25);
    case InitKind::kBias:
      return static_cast<float>(s * 0.1);
    case InitKind::kEmbed:
      return static_cast<float>(s * 0.5);
    case InitKind::kLinear:
      return static_cast<float>(s * std::sqrt(3.0 / fan_in));
  }
  return 0.0f;
}

namespace {

void GenerateBf16(const ExpectedTensor& t, uint64_t seed, ThreadPool& pool,
                  std::vector<uint8_t>& out) {
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  out.resize(static_cast<size_t>(n) * 2);
  auto* bits = reinterpret_cast<uint16_t*>(out.data());
  const uint64_t key = Fnv1a64(t.name) ^ seed;
  pool.RunRanges(n, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i)
      bits[i] = F32ToBf16(TestTensorValue(key, i, t.kind, t.fan_in));
  });
}

void WriteText(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  if (!f) throw Error(ErrorCode::kIo, path.string() + ": write failed");
}

void CopyDataFiles(const TestModelPreset& preset, const std::string& data_dir, const fs::path& out,
                   const ModelConfig& config) {
  const char* kFiles[] = {"tokenizer.json", "tokenizer_config.json", "chat_template.json",
                          "preprocessor_config.json", "generation_config.json"};
  for (const char* f : kFiles) {
    const bool needed = preset.full_vocabulary || std::string(f) == "preprocessor_config.json";
    if (!needed) continue;
    const fs::path src = fs::path(data_dir) / f;
    if (!fs::exists(src))
      throw Error(ErrorCode::kNotFound, src.string() + ": data file for the test model is missing");
    fs::copy_file(src, out / f, fs::copy_options::overwrite_existing);
  }
  if (!preset.full_vocabulary) {
    ojson g;
    g["bos_token_id"] = config.bos_token_id;
    g["pad_token_id"] = config.bos_token_id;
    g["do_sample"] = true;
    g["eos_token_id"] = config.eos_token_ids;
    g["repetition_penalty"] = 1.05;
    g["temperature"] = 0.1;
    g["top_p"] = 0.001;
    g["top_k"] = 1;
    WriteText(out / "generation_config.json", g.dump(2));
  }
}

void WriteShards(const std::vector<ExpectedTensor>& tensors, const TestModelPreset& preset,
                 const fs::path& out) {
  ThreadPool pool(0);
  auto produce_from = [&](const std::vector<ExpectedTensor>& part) {
    return [&part, &preset, &pool](size_t i, std::vector<uint8_t>& bytes) {
      GenerateBf16(part[i], preset.seed, pool, bytes);
    };
  };
  auto specs_of = [](const std::vector<ExpectedTensor>& part) {
    std::vector<TensorSpec> specs;
    for (const auto& t : part) specs.push_back({t.name, DType::kBF16, t.shape});
    return specs;
  };
  if (preset.num_shards == 1) {
    WriteSafetensors((out / "model.safetensors").string(), specs_of(tensors),
                     produce_from(tensors));
    return;
  }
  // Split in generation order into shards of about equal size.
  uint64_t total = 0;
  for (const auto& s : specs_of(tensors)) total += s.nbytes();
  const uint64_t per_shard = (total + preset.num_shards - 1) / preset.num_shards;
  std::vector<std::vector<ExpectedTensor>> parts(preset.num_shards);
  uint64_t acc = 0;
  for (const auto& t : tensors) {
    const uint64_t bytes = TensorSpec{t.name, DType::kBF16, t.shape}.nbytes();
    size_t shard = std::min<size_t>(acc / per_shard, parts.size() - 1);
    parts[shard].push_back(t);
    acc += bytes;
  }
  ojson index;
  index["metadata"] = {{"total_size", total}};
  ojson map = ojson::object();
  for (size_t s = 0; s < parts.size(); ++s) {
    char name[64];
    std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", s + 1, parts.size());
    for (const auto& t : parts[s]) map[t.name] = name;
    WriteSafetensors((out / name).string(), specs_of(parts[s]), produce_from(parts[s]));
  }
  index["weight_map"] = map;
  WriteText(out / "model.safetensors.index.json", index.dump(2));
}

}  // namespace

std::string TestModelConfigJson(const TestModelPreset& preset, const std::string& data_dir) {
  if (!preset.config_json.empty()) return preset.config_json;
  // A published shape, on the published 3B file's keys.
  return PublishedShapeConfig(preset.name, ReadFileToString(data_dir + "/config.json"));
}

void WriteTestModel(const TestModelPreset& preset_in, const std::string& out_dir,
                    const std::string& data_dir) {
  TestModelPreset preset = preset_in;
  preset.config_json = TestModelConfigJson(preset_in, data_dir);
  const fs::path out(out_dir);
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw Error(ErrorCode::kIo, out_dir + ": cannot create: " + ec.message());
  const ModelConfig config = ParseModelConfig(preset.config_json, "preset " + preset.name);
  WriteText(out / "config.json", preset.config_json);
  CopyDataFiles(preset, data_dir, out, config);
  WriteShards(ExpectedTensors(config), preset, out);
}

}  // namespace qwenvl::io
