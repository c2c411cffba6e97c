#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/safetensors_writer.h"
#include "util/error.h"

namespace qwenvl::io {
namespace {

namespace fs = std::filesystem;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("qwenvl_st_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes a raw file: 8-byte length, header, data.
  std::string WriteRaw(const std::string& name, const std::string& header, size_t data_bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream f(path, std::ios::binary);
    uint64_t n = header.size();
    f.write(reinterpret_cast<const char*>(&n), 8);
    f << header;
    f << std::string(data_bytes, '\0');
    return path;
  }

  void ExpectCorrupt(const std::string& header, size_t data_bytes, const std::string& needle) {
    const std::string path = WriteRaw("bad.safetensors", header, data_bytes);
    try {
      SafetensorsFile f(path);
      FAIL() << "no error for header " << header;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorruptFile);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }

  fs::path dir_;
};

TEST_F(SafetensorsTest, RoundTripKeepsBytesAndShapes) {
  std::vector<float> a = {1.0f, -2.5f, 3.25f, 0.0f, 7.0f, 8.0f};
  std::vector<uint16_t> b = {0x3f80, 0xc000};
  const std::string path = (dir_ / "m.safetensors").string();
  WriteSafetensors(path, {MakeTensor<float>("a", DType::kF32, {2, 3}, a),
                          MakeTensor<uint16_t>("model.language_model.b", DType::kBF16, {2}, b)});
  SafetensorsFile f(path);
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const TensorInfo& ta = f.tensors()[0];
  EXPECT_EQ(ta.name, "a");
  EXPECT_EQ(ta.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(ta.nbytes, 24u);
  EXPECT_EQ(std::memcmp(ta.data, a.data(), 24), 0);
  // Newer transformers names map to the published ones.
  EXPECT_EQ(f.tensors()[1].name, "model.b");
  EXPECT_EQ(f.tensors()[1].dtype, DType::kBF16);
  // Data starts 8-byte aligned: the header is padded.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(ta.data) % 8, 0u);
}

// A tensor written in pieces (a video's patches, a slice at a time) reads back as one.
TEST_F(SafetensorsTest, ChunkedWriteReadsBackWhole) {
  std::vector<float> values(60);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * 0.5f - 3.0f;
  const std::vector<int64_t> grid = {3, 2, 2};
  const std::string path = (dir_ / "chunked.safetensors").string();
  WriteSafetensorsChunked(path, {{"a", DType::kF32, {5, 12}}, {"b", DType::kI64, {3}}},
                          [&](size_t i, const ChunkWriter& write) {
                            if (i == 1) {
                              write({reinterpret_cast<const uint8_t*>(grid.data()), 24});
                              return;
                            }
                            const auto* p = reinterpret_cast<const uint8_t*>(values.data());
                            for (size_t row = 0; row < 5; ++row) write({p + row * 48, 48});
                          });
  SafetensorsFile f(path);
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.tensors()[0].shape, (std::vector<int64_t>{5, 12}));
  ASSERT_EQ(f.tensors()[0].nbytes, 240u);
  EXPECT_EQ(std::memcmp(f.tensors()[0].data, values.data(), 240), 0);
  EXPECT_EQ(std::memcmp(f.tensors()[1].data, grid.data(), 24), 0);
}

TEST_F(SafetensorsTest, CanonicalNames) {
  EXPECT_EQ(CanonicalTensorName("model.visual.blocks.0.norm1.weight"),
            "visual.blocks.0.norm1.weight");
  EXPECT_EQ(CanonicalTensorName("model.language_model.norm.weight"), "model.norm.weight");
  EXPECT_EQ(CanonicalTensorName("model.layers.0.mlp.up_proj.weight"),
            "model.layers.0.mlp.up_proj.weight");
  EXPECT_EQ(CanonicalTensorName("lm_head.weight"), "lm_head.weight");
}

TEST_F(SafetensorsTest, LyingHeadersAreErrors) {
  ExpectCorrupt(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4, "past the data");
  ExpectCorrupt(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "needs 12");
  ExpectCorrupt(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                12, "overlap");
  ExpectCorrupt(R"({"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}})", 8, "unknown dtype");
  ExpectCorrupt(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, "non-negative");
  ExpectCorrupt(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, "begin > end");
  ExpectCorrupt(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})",
                8, "needs");
  ExpectCorrupt(R"([1,2,3])", 0, "not a JSON object");
  ExpectCorrupt(R"({"a":{"dtype":"F32","shape":[2]}})", 8, "data_offsets");
  ExpectCorrupt("{not json", 0, "not a JSON object");
}

TEST_F(SafetensorsTest, TruncatedFilesAreErrors) {
  const std::string tiny = (dir_ / "short.safetensors").string();
  std::ofstream(tiny, std::ios::binary) << "abc";
  EXPECT_THROW(SafetensorsFile{tiny}, Error);
  // Header length larger than the file.
  const std::string path =
      WriteRaw("trunc.safetensors", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
  fs::resize_file(path, 20);
  try {
    SafetensorsFile f(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  EXPECT_THROW(SafetensorsFile{(dir_ / "missing.safetensors").string()}, Error);
}

TEST_F(SafetensorsTest, ShardedFolderLoadsThroughTheIndex) {
  std::vector<float> x = {1, 2}, y = {3, 4, 5};
  WriteSafetensors((dir_ / "model-00001-of-00002.safetensors").string(),
                   {MakeTensor<float>("x", DType::kF32, {2}, x)});
  WriteSafetensors((dir_ / "model-00002-of-00002.safetensors").string(),
                   {MakeTensor<float>("model.visual.y", DType::kF32, {3}, y)});
  std::ofstream(dir_ / "model.safetensors.index.json")
      << R"({"metadata":{"total_size":20},"weight_map":{"x":"model-00001-of-00002.safetensors",)"
      << R"("model.visual.y":"model-00002-of-00002.safetensors"}})";
  TensorStore store = TensorStore::OpenModelDir(dir_.string());
  EXPECT_EQ(store.size(), 2u);
  EXPECT_EQ(store.Get("visual.y").numel(), 3);
  EXPECT_EQ(store.total_bytes(), 20u);
  EXPECT_EQ(store.Find("nope"), nullptr);
  EXPECT_THROW(store.Get("nope"), Error);

  fs::remove(dir_ / "model-00002-of-00002.safetensors");
  try {
    TensorStore::OpenModelDir(dir_.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("model-00002-of-00002.safetensors is missing"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(SafetensorsTest, IndexNamingAWrongShardIsAnError) {
  std::vector<float> x = {1, 2};
  WriteSafetensors((dir_ / "a.safetensors").string(),
                   {MakeTensor<float>("x", DType::kF32, {2}, x)});
  WriteSafetensors((dir_ / "b.safetensors").string(),
                   {MakeTensor<float>("z", DType::kF32, {2}, x)});
  std::ofstream(dir_ / "model.safetensors.index.json")
      << R"({"weight_map":{"x":"b.safetensors","z":"a.safetensors"}})";
  EXPECT_THROW(TensorStore::OpenModelDir(dir_.string()), Error);
}

TEST_F(SafetensorsTest, EmptyFolderIsNotFound) {
  try {
    TensorStore::OpenModelDir(dir_.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
}

}  // namespace
}  // namespace qwenvl::io
