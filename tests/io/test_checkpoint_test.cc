#include "io/test_checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/model_folder.h"
#include "io/safetensors_writer.h"
#include "util/error.h"
#include "util/mapped_file.h"
#include "util/sha256.h"

namespace qwenvl::io {
namespace {

namespace fs = std::filesystem;
const std::string kData = QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct";

fs::path TempDir(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("qwenvl_ckpt_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

std::string FileSha256(const fs::path& p) {
  MappedFile f(p.string());
  return Sha256Hex(std::span(f.data(), f.size()));
}

// The fixture checkpoints' sha256 (fixtures README): the generator must reproduce them exactly.
TEST(TestCheckpoint, TinyAndSmallMatchTheFixturesByteForByte) {
  const std::pair<const char*, const char*> kExpected[] = {
      {"tiny", "4d00a1a558ce684b56a7bd4be2400a34bf6d92a6ca905fdaaf15b5df93f499b6"},
      {"small", "06c790a57665af8264386585e1973823b1f256c761062ab3de14c9b2a17321f6"}};
  for (const auto& [name, sha] : kExpected) {
    const fs::path dir = TempDir(name);
    WriteTestModel(GetTestModelPreset(name), dir.string(), kData);
    EXPECT_EQ(FileSha256(dir / "model.safetensors"), sha) << name;
    ModelFolder folder = ModelFolder::Open(dir.string());
    EXPECT_TRUE(folder.report.unused.empty());
    EXPECT_EQ(folder.report.lm_head_tied, std::string(name) == "tiny");
    EXPECT_EQ(fs::exists(dir / "tokenizer.json"), std::string(name) == "tiny");
    EXPECT_TRUE(fs::exists(dir / "generation_config.json"));
    fs::remove_all(dir);
  }
}

TEST(TestCheckpoint, ValuesFollowTheDocumentedStream) {
  // Element 0 of a norm tensor: 1 + (2u - 1) * 0.25 stays within [0.75, 1.25].
  const uint64_t key = Fnv1a64("model.norm.weight") ^ 1;
  for (int i = 0; i < 100; ++i) {
    float v = TestTensorValue(key, i, InitKind::kNorm, 0);
    EXPECT_GE(v, 0.75f);
    EXPECT_LE(v, 1.25f);
  }
  EXPECT_EQ(Fnv1a64(""), 0xCBF29CE484222325ull);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cull);
}

TEST(TestCheckpoint, FolderThatContradictsItsConfigIsRejected) {
  const fs::path dir = TempDir("contradict");
  WriteTestModel(GetTestModelPreset("tiny"), dir.string(), kData);
  // Untie the embeddings in the config: lm_head.weight becomes required and is missing.
  auto cfg = nlohmann::json::parse(ReadFileToString((dir / "config.json").string()));
  cfg["tie_word_embeddings"] = false;
  std::ofstream(dir / "config.json") << cfg.dump();
  try {
    ModelFolder::Open(dir.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lm_head.weight is missing"), std::string::npos)
        << e.what();
  }
  // A wrong size names the tensor, the expected and the actual shape.
  cfg["tie_word_embeddings"] = true;
  cfg["intermediate_size"] = 128;
  std::ofstream(dir / "config.json") << cfg.dump();
  try {
    ModelFolder::Open(dir.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(
        std::string(e.what()).find(
            "model.layers.0.mlp.gate_proj.weight: shape [128, 64] expected, file has [160, 64]"),
        std::string::npos)
        << e.what();
  }
  fs::remove_all(dir);
}

TEST(TestCheckpoint, UnusableDtypeIsNamed) {
  const fs::path dir = TempDir("dtype");
  WriteTestModel(GetTestModelPreset("tiny"), dir.string(), kData);
  // Rewrite the checkpoint with the final norm stored as I32.
  TensorStore store = TensorStore::OpenModelDir(dir.string());
  std::vector<OwnedTensor> tensors;
  for (const auto& name : store.Names()) {
    const TensorInfo& t = store.Get(name);
    OwnedTensor o{{name, t.dtype, t.shape}, {t.data, t.data + t.nbytes}};
    if (name == "model.norm.weight") {
      o.spec.dtype = DType::kI32;
      o.spec.shape = {t.shape[0]};
      o.bytes.resize(t.shape[0] * 4);
    }
    tensors.push_back(std::move(o));
  }
  store = TensorStore();
  WriteSafetensors((dir / "model.safetensors.tmp").string(), tensors);
  fs::rename(dir / "model.safetensors.tmp", dir / "model.safetensors");
  try {
    ModelFolder::Open(dir.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.norm.weight: dtype I32 cannot be used"),
              std::string::npos)
        << e.what();
  }
  fs::remove_all(dir);
}

TEST(TestCheckpoint, UnknownPresetIsAnError) {
  try {
    GetTestModelPreset("13b");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("32b-shape, 72b-shape"), std::string::npos) << e.what();
  }
}

// The config the 32b-shape and 72b-shape presets write (without writing their gigabytes): the
// published widths (model-spec §1.4), two decoder layers, four vision blocks of both kinds.
TEST(TestCheckpoint, ShapePresetsHaveThePublishedWidths) {
  struct Published {
    const char* preset;
    int64_t hidden, intermediate, heads, kv_heads;
    uint64_t bytes;  // of all the tensors, bf16
  };
  for (const Published& p : {Published{"32b-shape", 5120, 27648, 40, 8, 5331317248},
                             Published{"72b-shape", 8192, 29568, 64, 8, 8791667200}}) {
    SCOPED_TRACE(p.preset);
    const std::string text = TestModelConfigJson(GetTestModelPreset(p.preset), kData);
    const ModelConfig c = ParseModelConfig(text, p.preset);
    EXPECT_EQ(c.text.hidden_size, p.hidden);
    EXPECT_EQ(c.text.intermediate_size, p.intermediate);
    EXPECT_EQ(c.text.num_attention_heads, p.heads);
    EXPECT_EQ(c.text.num_key_value_heads, p.kv_heads);
    EXPECT_EQ(c.text.head_dim(), 128);
    EXPECT_EQ(c.text.num_hidden_layers, 2);
    EXPECT_EQ(c.text.vocab_size, 152064);
    EXPECT_FALSE(c.text.tie_word_embeddings);
    EXPECT_EQ(c.text.mrope_section, (std::vector<int64_t>{16, 24, 24}));
    EXPECT_DOUBLE_EQ(c.text.rope_theta, 1e6);
    EXPECT_EQ(c.vision.hidden_size, 1280);
    EXPECT_EQ(c.vision.num_heads, 16);
    EXPECT_EQ(c.vision.intermediate_size, 3456);
    EXPECT_EQ(c.vision.out_hidden_size, p.hidden);
    EXPECT_EQ(c.vision.depth, 4);
    EXPECT_TRUE(c.vision.IsFullAttentionBlock(1) && c.vision.IsFullAttentionBlock(3));
    EXPECT_FALSE(c.vision.IsFullAttentionBlock(0) || c.vision.IsFullAttentionBlock(2));
    EXPECT_EQ(c.image_token_id, 151655);
    // rope_scaling as the 32B and 72B files write it.
    const auto rope = nlohmann::json::parse(text)["rope_scaling"];
    EXPECT_EQ(rope["rope_type"], "default");
    EXPECT_EQ(rope["type"], "default");
    uint64_t bytes = 0;
    for (const ExpectedTensor& t : ExpectedTensors(c))
      bytes += TensorSpec{t.name, DType::kBF16, t.shape}.nbytes();
    EXPECT_EQ(bytes, p.bytes);
  }
  // The 7B preset is the published 7B file, as before.
  const ModelConfig c7 =
      ParseModelConfig(TestModelConfigJson(GetTestModelPreset("7b"), kData), "7b");
  EXPECT_EQ(c7.text.hidden_size, 3584);
  EXPECT_EQ(c7.text.num_hidden_layers, 28);
  EXPECT_EQ(c7.vision.depth, 32);
  EXPECT_EQ(c7.vision.intermediate_size, 3420);
  EXPECT_EQ(c7.vision.fullatt_block_indexes, (std::vector<int64_t>{7, 15, 23, 31}));
}

}  // namespace
}  // namespace qwenvl::io
