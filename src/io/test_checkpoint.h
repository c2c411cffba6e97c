// Deterministic random-weight checkpoints in the published layout, for tests and for speed and
// memory work at real sizes. The tiny and small presets reproduce the reference fixture checkpoints
// byte for byte (algorithm: fixtures README): each element comes from a splitmix64 stream keyed by
// FNV-1a of the tensor name, so any tensor can be generated alone, in any order, on any machine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/checkpoint_layout.h"
#include "io/model_config.h"

namespace qwenvl::io {

struct TestModelPreset {
  std::string name;
  std::string config_json;  // the config.json text; empty: a published shape, made at write time
                            // from the published 3B file in data_dir
  uint64_t seed = 0;
  int num_shards = 1;           // > 1: sharded with model.safetensors.index.json
  bool full_vocabulary = true;  // copy tokenizer, template, preprocessor and generation configs
};

// Presets: tiny, small (the fixture checkpoints), 3b, 7b (published shapes), 32b-shape and
// 72b-shape (the published 32B and 72B widths, text and vision, with two decoder layers and four
// vision blocks). Throws on an unknown name.
TestModelPreset GetTestModelPreset(const std::string& name);
std::vector<std::string> TestModelPresetNames();

// Value of element i (0-based) of a tensor as the generator makes it, before bf16 rounding.
float TestTensorValue(uint64_t key, int64_t i, InitKind kind, int64_t fan_in);
uint64_t Fnv1a64(const std::string& s);

// The config.json text WriteTestModel writes for the preset (data_dir as there).
std::string TestModelConfigJson(const TestModelPreset& preset, const std::string& data_dir);

// Writes a whole model folder to out_dir (created if needed). data_dir holds the 3B-Instruct
// tokenizer, template, preprocessor and generation files copied for full-vocabulary presets.
void WriteTestModel(const TestModelPreset& preset, const std::string& out_dir,
                    const std::string& data_dir);

}  // namespace qwenvl::io
