#include "io/model_config.h"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/mapped_file.h"

namespace qwenvl::io {
namespace {

using nlohmann::json;

const std::string kConfigPath = QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct/config.json";

json Published() { return json::parse(ReadFileToString(kConfigPath)); }

void ExpectError(const json& j, const std::string& needle) {
  try {
    ParseModelConfig(j.dump(), "cfg.json");
    FAIL() << "no error, wanted " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cfg.json"), std::string::npos) << e.what();
  }
}

TEST(ModelConfig, PublishedFlatLayout) {
  ModelConfig c = ParseModelConfig(ReadFileToString(kConfigPath), kConfigPath);
  EXPECT_EQ(c.text.hidden_size, 2048);
  EXPECT_EQ(c.text.num_hidden_layers, 36);
  EXPECT_EQ(c.text.num_attention_heads, 16);
  EXPECT_EQ(c.text.num_key_value_heads, 2);
  EXPECT_EQ(c.text.head_dim(), 128);
  EXPECT_EQ(c.text.intermediate_size, 11008);
  EXPECT_EQ(c.text.vocab_size, 151936);
  EXPECT_FLOAT_EQ(c.text.rms_norm_eps, 1e-6f);
  EXPECT_DOUBLE_EQ(c.text.rope_theta, 1e6);
  EXPECT_EQ(c.text.mrope_section, (std::vector<int64_t>{16, 24, 24}));
  EXPECT_TRUE(c.text.tie_word_embeddings);
  EXPECT_EQ(c.vision.depth, 32);
  EXPECT_EQ(c.vision.hidden_size, 1280);
  EXPECT_EQ(c.vision.head_dim(), 80);
  EXPECT_EQ(c.vision.intermediate_size, 3420);
  EXPECT_EQ(c.vision.out_hidden_size, 2048);
  EXPECT_EQ(c.vision.patch_dim(), 1176);
  EXPECT_EQ(c.vision.window_size, 112);
  EXPECT_EQ(c.vision.fullatt_block_indexes, (std::vector<int64_t>{7, 15, 23, 31}));
  EXPECT_TRUE(c.vision.IsFullAttentionBlock(15));
  EXPECT_FALSE(c.vision.IsFullAttentionBlock(14));
  EXPECT_DOUBLE_EQ(c.vision.tokens_per_second, 2.0);
  EXPECT_EQ(c.image_token_id, 151655);
  EXPECT_EQ(c.video_token_id, 151656);
  EXPECT_EQ(c.vision_start_token_id, 151652);
  EXPECT_EQ(c.eos_token_ids, (std::vector<TokenId>{151645}));
}

TEST(ModelConfig, NestedLayoutOfNewerTransformers) {
  json flat = Published();
  json nested;
  nested["model_type"] = "qwen2_5_vl";
  nested["vision_config"] = flat["vision_config"];
  nested["image_token_id"] = flat["image_token_id"];
  nested["video_token_id"] = flat["video_token_id"];
  nested["vision_start_token_id"] = flat["vision_start_token_id"];
  nested["vision_end_token_id"] = flat["vision_end_token_id"];
  nested["tie_word_embeddings"] = true;
  json text;
  for (const char* k :
       {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "vocab_size", "rms_norm_eps", "eos_token_id", "bos_token_id"})
    text[k] = flat[k];
  text["rope_parameters"] = {
      {"rope_type", "default"}, {"mrope_section", {16, 24, 24}}, {"rope_theta", 1000000.0}};
  nested["text_config"] = text;
  ModelConfig c = ParseModelConfig(nested.dump(), "nested.json");
  ModelConfig p = ParseModelConfig(flat.dump(), "flat.json");
  EXPECT_EQ(c.text.hidden_size, p.text.hidden_size);
  EXPECT_EQ(c.text.mrope_section, p.text.mrope_section);
  EXPECT_DOUBLE_EQ(c.text.rope_theta, p.text.rope_theta);
  EXPECT_EQ(c.text.tie_word_embeddings, p.text.tie_word_embeddings);
  EXPECT_EQ(c.vision.depth, p.vision.depth);
  EXPECT_EQ(c.image_token_id, p.image_token_id);
}

TEST(ModelConfig, MissingAndWrongKeysAreNamed) {
  json j = Published();
  j.erase("hidden_size");
  ExpectError(j, "hidden_size is missing");
  j = Published();
  j["vision_config"]["depth"] = "32";
  ExpectError(j, "vision_config.depth must be an integer");
  j = Published();
  j["num_attention_heads"] = "sixteen";
  ExpectError(j, "num_attention_heads must be an integer");
  j = Published();
  j["rope_scaling"]["mrope_section"] = {16, 24, 16};
  ExpectError(j, "mrope_section");
  j = Published();
  j["num_key_value_heads"] = 3;
  ExpectError(j, "num_key_value_heads");
  j = Published();
  j["vision_config"]["fullatt_block_indexes"] = {7, 40};
  ExpectError(j, "fullatt_block_indexes");
  j = Published();
  j["rope_scaling"] = {{"type", "yarn"}, {"mrope_section", {16, 24, 24}}, {"factor", 4}};
  ExpectError(j, "YaRN");
  j = Published();
  j["vision_config"]["out_hidden_size"] = 1024;
  ExpectError(j, "out_hidden_size");
  ExpectError(json::array(), "not a JSON object");
}

// The 32B and 72B configs as published name only the vision keys that differ from transformers'
// defaults; the others take those defaults, as in transformers.
TEST(ModelConfig, OmittedVisionKeysTakeTransformersDefaults) {
  json j = Published();
  j["hidden_size"] = 8192;
  j["num_attention_heads"] = 64;
  j["num_key_value_heads"] = 8;
  j["vision_config"] = {{"hidden_size", 1280},       {"in_chans", 3},
                        {"intermediate_size", 3456}, {"model_type", "qwen2_5_vl"},
                        {"out_hidden_size", 8192},   {"spatial_patch_size", 14},
                        {"tokens_per_second", 2},    {"torch_dtype", "bfloat16"}};
  const ModelConfig c = ParseModelConfig(j.dump(), "cfg.json");
  EXPECT_EQ(c.vision.depth, 32);
  EXPECT_EQ(c.vision.hidden_size, 1280);
  EXPECT_EQ(c.vision.intermediate_size, 3456);
  EXPECT_EQ(c.vision.num_heads, 16);
  EXPECT_EQ(c.vision.out_hidden_size, 8192);
  EXPECT_EQ(c.vision.patch_size, 14);
  EXPECT_EQ(c.vision.spatial_merge_size, 2);
  EXPECT_EQ(c.vision.temporal_patch_size, 2);
  EXPECT_EQ(c.vision.window_size, 112);
  EXPECT_EQ(c.vision.fullatt_block_indexes, (std::vector<int64_t>{7, 15, 23, 31}));
  EXPECT_EQ(c.vision.tokens_per_second, 2);
  // A default that contradicts a given key is still checked: depth 32 holds no block 40.
  j["vision_config"]["fullatt_block_indexes"] = {7, 40};
  ExpectError(j, "fullatt_block_indexes");
}

// A token id too large for TokenId is refused, not narrowed into another, valid id.
TEST(ModelConfig, TokenIdsBeyondTheirTypeAreNamed) {
  json j = Published();
  j["eos_token_id"] = {151645, (int64_t{1} << 32) + 151645};
  ExpectError(j, "eos_token_id holds 4295118941");
  j = Published();
  j["vision_end_token_id"] = int64_t{1} << 40;
  ExpectError(j, "vision_end_token_id holds");
}

TEST(ModelConfig, IntegersBeyondInt64AreRefusedNotWrapped) {
  // 2^64 − 1 read as int64_t would be −1; 2^63 + 151645 would wrap to a negative id.
  json j = Published();
  j["eos_token_id"] = std::numeric_limits<uint64_t>::max();
  ExpectError(j, "eos_token_id holds 18446744073709551615, outside the range of integers");
  j = Published();
  j["eos_token_id"] = {151645, (uint64_t{1} << 63) + 151645};
  ExpectError(j, "eos_token_id holds 9223372036854927453");
  j = Published();
  j["num_hidden_layers"] = uint64_t{1} << 63;
  ExpectError(j, "num_hidden_layers holds 9223372036854775808");
}

TEST(ModelConfig, OtherModelTypesAreRejected) {
  json j = Published();
  j["model_type"] = "llama";
  try {
    ParseModelConfig(j.dump(), "x.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
  }
}

}  // namespace
}  // namespace qwenvl::io
