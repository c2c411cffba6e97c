// Binding a matrix from the file mapping: quantized and resident copies made in row blocks (the
// file pages released block by block) equal the copies made in one piece, and the stored bytes
// stay readable afterwards (released pages come back from the page cache).
#include "model/weights.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "kernels/ops.h"
#include "util/bf16.h"

namespace qwenvl::model {
namespace {

class BindLinearTest : public ::testing::Test {
 protected:
  static constexpr int64_t kRows = 37, kCols = 96;  // 192 bytes a row in bf16
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("qwenvl_weights_test_" + std::to_string(getpid()) + ".safetensors");
    for (int64_t i = 0; i < kRows * kCols; ++i) {
      bits_.push_back(F32ToBf16(static_cast<float>((i * 7919) % 1000) / 997.0f - 0.5f));
    }
    io::WriteSafetensors(path_.string(), {io::MakeTensor<uint16_t>("w.weight", io::DType::kBF16,
                                                                   {kRows, kCols}, bits_)});
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::filesystem::path path_;
  std::vector<uint16_t> bits_;
};

TEST_F(BindLinearTest, BlockwiseCopiesEqualWholeOnes) {
  const io::TensorStore store = io::TensorStore::OpenFiles({path_.string()});
  ThreadPool pool(2);
  const kernels::WeightView stored = ViewOf(store.Get("w.weight"));
  for (Precision p : {Precision::kQ8, Precision::kQ4}) {
    const kernels::QuantizedMatrix whole = kernels::Quantize(
        stored, p == Precision::kQ8 ? kernels::WeightType::kQ8 : kernels::WeightType::kQ4, pool);
    for (int64_t block_bytes : {1, 400, 1 << 20}) {  // one row, two rows, all rows per block
      const Linear l =
          BindLinear(store, "w", Bias::kNone,
                     {.precision = p, .pool = &pool, .release_block_bytes = block_bytes});
      ASSERT_NE(l.quantized, nullptr);
      ASSERT_EQ(WeightBytes(l.weight), WeightBytes(whole.view()));
      EXPECT_EQ(std::memcmp(l.weight.data, whole.view().data, WeightBytes(l.weight)), 0)
          << PrecisionName(p) << " " << block_bytes;
    }
  }
  const Linear resident = BindLinear(store, "w", Bias::kNone,
                                     {.pool = &pool, .resident = true, .release_block_bytes = 400});
  ASSERT_NE(resident.weight.data, stored.data);
  EXPECT_EQ(std::memcmp(resident.weight.data, bits_.data(), bits_.size() * 2), 0);
  // The released file pages read back as they were.
  EXPECT_EQ(std::memcmp(stored.data, bits_.data(), bits_.size() * 2), 0);
}

}  // namespace
}  // namespace qwenvl::model
