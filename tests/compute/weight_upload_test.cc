// Uploading a matrix from the file mapping: quantized and resident copies made in row blocks (the
// file pages released block by block) equal the copies made in one piece, and the stored bytes
// stay readable afterwards (released pages come back from the page cache). A quantized matrix
// found in the weight cache is copied the same way when resident, and read in the cache file
// otherwise.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "compute/cpu_backend.h"
#include "compute/weight_cache.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "kernels/ops.h"
#include "util/bf16.h"

namespace qwenvl::compute {
namespace {

class WeightUploadTest : public ::testing::Test {
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

TEST_F(WeightUploadTest, BlockwiseCopiesEqualWholeOnes) {
  const io::TensorStore store = io::TensorStore::OpenFiles({path_.string()});
  ThreadPool pool(2);
  CpuBackend backend(pool);
  const HostMatrix stored{.view = {store.Get("w.weight").data, WeightFormat::kBF16, kRows, kCols},
                          .file_mapped = true};
  for (WeightPrecision p : {WeightPrecision::kQ8, WeightPrecision::kQ4}) {
    const kernels::QuantizedMatrix whole =
        kernels::Quantize(stored.view, *TraitsOf(p).quantize_to, pool);
    for (int64_t block_bytes : {1, 400, 1 << 20}) {  // one row, two rows, all rows per block
      const Weight w =
          backend.UploadWeight(stored, {}, {.precision = p, .release_block_bytes = block_bytes});
      ASSERT_TRUE(w.owned());
      ASSERT_EQ(w.bytes(), WeightViewBytes(whole.view()));
      EXPECT_EQ(std::memcmp(TensorAccess::View(w).data, whole.view().data, w.bytes()), 0)
          << WeightPrecisionName(p) << " " << block_bytes;
    }
  }
  const Weight resident =
      backend.UploadWeight(stored, {}, {.resident = true, .release_block_bytes = 400});
  ASSERT_NE(TensorAccess::View(resident).data, stored.view.data);
  EXPECT_EQ(std::memcmp(TensorAccess::View(resident).data, bits_.data(), bits_.size() * 2), 0);
  // The released file pages read back as they were.
  EXPECT_EQ(std::memcmp(stored.view.data, bits_.data(), bits_.size() * 2), 0);
  // Stored precision without a resident copy reads the bytes where they lie.
  const Weight in_place = backend.UploadWeight(stored, {}, {});
  EXPECT_FALSE(in_place.owned());
  EXPECT_EQ(TensorAccess::View(in_place).data, stored.view.data);
}

TEST_F(WeightUploadTest, CacheHitsAreCopiedWhenResidentAndReadInPlaceOtherwise) {
  const io::TensorStore store = io::TensorStore::OpenFiles({path_.string()});
  ThreadPool pool(2);
  CpuBackend backend(pool);
  const HostMatrix stored{.view = {store.Get("w.weight").data, WeightFormat::kBF16, kRows, kCols},
                          .file_mapped = true,
                          .name = "w.weight"};
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("qwenvl_upload_cache_" + std::to_string(getpid())))
          .string();
  std::filesystem::remove_all(dir);
  for (WeightPrecision p : {WeightPrecision::kQ8, WeightPrecision::kQ4}) {
    const WeightFormat f = *TraitsOf(p).quantize_to;
    const kernels::QuantizedMatrix whole = kernels::Quantize(stored.view, f, pool);
    const auto bytes = static_cast<size_t>(WeightViewBytes(whole.view()));
    {
      WeightCache cold(dir, "model", "source");
      const Weight w = backend.UploadWeight(stored, {}, {.precision = p, .cache = &cold});
      cold.Commit();
      ASSERT_EQ(cold.misses(), 1) << cold.problem();
    }
    // Blocks of one byte, of part of the scales, and of the whole matrix.
    for (int64_t block_bytes : {1, 100, 1 << 20}) {
      WeightCache warm(dir, "model", "source");
      const Weight w = backend.UploadWeight(
          stored, {},
          {.precision = p, .resident = true, .release_block_bytes = block_bytes, .cache = &warm});
      const auto in_file = warm.Find("w.weight", f, kRows, kCols);
      ASSERT_TRUE(in_file.has_value());
      ASSERT_TRUE(w.owned());
      EXPECT_NE(TensorAccess::View(w).data, in_file->view.data) << "resident: a copy of its own";
      ASSERT_EQ(static_cast<size_t>(w.bytes()), bytes);
      EXPECT_EQ(std::memcmp(TensorAccess::View(w).data, whole.view().data, bytes), 0)
          << WeightPrecisionName(p) << " " << block_bytes;
      // The released pages of the cache file read back as they were.
      EXPECT_EQ(std::memcmp(in_file->view.data, whole.view().data, bytes), 0);
    }
    WeightCache mapped(dir, "model", "source");
    const Weight w = backend.UploadWeight(stored, {}, {.precision = p, .cache = &mapped});
    const auto in_file = mapped.Find("w.weight", f, kRows, kCols);
    ASSERT_TRUE(in_file.has_value());
    EXPECT_EQ(TensorAccess::View(w).data, in_file->view.data) << "not resident: read in the file";
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace qwenvl::compute
