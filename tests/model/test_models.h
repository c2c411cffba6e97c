// The tiny and small test checkpoints (fixtures README: byte-identical to the fixture checkpoints),
// written by the generator once per test process and opened as Models on first use.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "io/test_checkpoint.h"
#include "model/qwen2_5_vl.h"

namespace qwenvl::model::testing {

class TestModels {
 public:
  static const Model& Get(const std::string& preset) {
    static TestModels instance;
    auto it = instance.models_.find(preset);
    if (it == instance.models_.end()) {
      const std::filesystem::path dir = instance.root_ / preset;
      io::WriteTestModel(io::GetTestModelPreset(preset), dir.string(),
                         QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct");
      it = instance.models_.emplace(preset, std::make_unique<Model>(dir.string())).first;
    }
    return *it->second;
  }

 private:
  TestModels()
      : root_(std::filesystem::temp_directory_path() /
              ("qwenvl_decoder_models_" + std::to_string(::getpid()))) {}
  ~TestModels() {
    models_.clear();  // unmap before deleting the files
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }

  std::filesystem::path root_;
  std::map<std::string, std::unique_ptr<Model>> models_;
};

inline const std::string kCaseDir = QWENVL_TEST_DATA "/model";

}  // namespace qwenvl::model::testing
