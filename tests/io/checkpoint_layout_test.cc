#include "io/checkpoint_layout.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

#include "io/safetensors_writer.h"
#include "util/error.h"

namespace qwenvl::io {
namespace {

namespace fs = std::filesystem;

// Binding goes through GetExpected, so a store that skipped ValidateCheckpoint still cannot hand a
// binder a tensor of another shape than the table's.
TEST(CheckpointLayout, GetExpectedChecksTheTableShape) {
  const fs::path path =
      fs::temp_directory_path() / ("qwenvl_layout_" + std::to_string(::getpid()) + ".safetensors");
  const std::vector<float> values(6, 0.0f);
  WriteSafetensors(path.string(), {MakeTensor<float>("w.weight", DType::kF32, {3, 2}, values)});
  const TensorStore store = TensorStore::OpenFiles({path.string()});

  const ExpectedTensor fits{"w.weight", {3, 2}, InitKind::kLinear, 2};
  EXPECT_EQ(GetExpected(store, fits).numel(), 6);
  try {
    GetExpected(store, {"w.weight", {2, 3}, InitKind::kLinear, 3});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruptFile);
    EXPECT_NE(std::string(e.what()).find("tensor w.weight: shape [2, 3] expected, file has [3, 2]"),
              std::string::npos)
        << e.what();
  }
  try {
    GetExpected(store, {"w.bias", {3}, InitKind::kBias});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
  fs::remove(path);
}

}  // namespace
}  // namespace qwenvl::io
