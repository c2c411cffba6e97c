// The quantized-weight cache file (compute/weight_cache.h): a copy kept by one load is found, byte
// for byte, by the next; a truncated file, a flipped byte, another file version or another key is
// refused and rebuilt; concurrent writers leave a whole file; an unwritable folder warns once.
#include "compute/weight_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "kernels/ops.h"
#include "util/mapped_file.h"

namespace qwenvl::compute {
namespace {

namespace fs = std::filesystem;

// A fresh folder under the test's temporary directory, of this process and this test (ctest runs
// the q8 and q4 cases of one test at once, in separate processes).
std::string TempDir(const std::string& name) {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string which = test != nullptr ? std::string(test->name()) : std::string();
  for (char& c : which)
    if (c == '/') c = '_';
  const fs::path p = fs::path(::testing::TempDir()) /
                     ("qwenvl_weight_cache_" + name + "_" + which + "_" + std::to_string(getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

// A quantized matrix of random bf16-like values (seeded: the same bytes each time).
std::shared_ptr<kernels::QuantizedMatrix> MakeMatrix(WeightFormat f, int64_t rows, int64_t cols,
                                                     uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 0.05f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (float& x : w) x = d(rng);
  ThreadPool pool(1);
  const kernels::WeightView v{w.data(), WeightFormat::kF32, rows, cols};
  return std::make_shared<kernels::QuantizedMatrix>(kernels::Quantize(v, f, pool));
}

struct Matrices {
  std::vector<std::string> names{"a.weight", "b.weight", "c.weight"};
  std::vector<std::shared_ptr<kernels::QuantizedMatrix>> m;
  explicit Matrices(WeightFormat f) {
    m.push_back(MakeMatrix(f, 8, 64, 1));
    m.push_back(MakeMatrix(f, 3, 40, 2));  // a partial block
    m.push_back(MakeMatrix(f, 16, 96, 3));
  }
  size_t Bytes(size_t i) const {
    const kernels::WeightView v = m[i]->view();
    return static_cast<size_t>(v.rows * WeightRowBytes(v.type, v.cols));
  }
};

// One load: every matrix looked up, those not found kept; then committed. Returns the hits.
int Load(WeightCache& cache, const Matrices& ms) {
  int hits = 0;
  for (size_t i = 0; i < ms.m.size(); ++i) {
    const kernels::WeightView v = ms.m[i]->view();
    const auto found = cache.Find(ms.names[i], v.type, v.rows, v.cols);
    if (found) {
      ++hits;
      EXPECT_EQ(std::memcmp(found->view.data, v.data, ms.Bytes(i)), 0) << ms.names[i];
    } else {
      cache.Keep(ms.names[i], v, ms.m[i]);
    }
  }
  cache.Commit();
  return hits;
}

void FlipByte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x10);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

std::vector<WeightCacheEntry> EntriesOf(const std::string& path, WeightFormat f,
                                        const std::string& key) {
  const MappedFile file(path);
  auto e = ParseWeightCacheFile(std::span(file.data(), file.size()), f, key);
  EXPECT_TRUE(e.has_value()) << path;
  return e.value_or(std::vector<WeightCacheEntry>{});
}

std::string KeyOf(const std::string& source, WeightFormat f) {
  return source + "\nformat=" + WeightFormatName(f) +
         "\nlayout=" + std::to_string(kernels::kQuantLayoutVersion);
}

class WeightCacheTest : public ::testing::TestWithParam<WeightFormat> {};

TEST_P(WeightCacheTest, SecondLoadMapsTheSameBytes) {
  const std::string dir = TempDir("roundtrip");
  const Matrices ms(GetParam());
  WeightCache first(dir, "model", "source-1");
  EXPECT_EQ(Load(first, ms), 0);
  EXPECT_EQ(first.misses(), 3);
  EXPECT_TRUE(first.problem().empty()) << first.problem();
  ASSERT_TRUE(fs::exists(first.PathOf(GetParam())));
  WeightCache second(dir, "model", "source-1");
  EXPECT_EQ(Load(second, ms), 3);
  EXPECT_EQ(second.misses(), 0);
  // Nothing but the file itself in the folder (no temporaries left).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST_P(WeightCacheTest, ShapeMismatchIsAMiss) {
  const std::string dir = TempDir("shape");
  const Matrices ms(GetParam());
  WeightCache first(dir, "model", "k");
  Load(first, ms);
  WeightCache second(dir, "model", "k");
  const kernels::WeightView v = ms.m[0]->view();
  EXPECT_FALSE(second.Find(ms.names[0], v.type, v.rows + 1, v.cols));
  EXPECT_FALSE(second.Find("unknown.weight", v.type, v.rows, v.cols));
  EXPECT_TRUE(second.Find(ms.names[0], v.type, v.rows, v.cols));
}

TEST_P(WeightCacheTest, TruncatedFileIsRebuilt) {
  const std::string dir = TempDir("truncated");
  const Matrices ms(GetParam());
  WeightCache first(dir, "model", "k");
  Load(first, ms);
  const std::string path = first.PathOf(GetParam());
  const auto size = fs::file_size(path);
  fs::resize_file(path, size - 1);
  WeightCache second(dir, "model", "k");
  EXPECT_EQ(Load(second, ms), 0);  // refused whole, every matrix quantized again
  EXPECT_EQ(fs::file_size(path), size);
  WeightCache third(dir, "model", "k");
  EXPECT_EQ(Load(third, ms), 3);
}

TEST_P(WeightCacheTest, FlippedTensorByteIsDetectedAndRebuilt) {
  const std::string dir = TempDir("flipped");
  const Matrices ms(GetParam());
  WeightCache first(dir, "model", "k");
  Load(first, ms);
  const std::string path = first.PathOf(GetParam());
  const std::vector<WeightCacheEntry> e = EntriesOf(path, GetParam(), KeyOf("k", GetParam()));
  ASSERT_EQ(e.size(), 3u);
  FlipByte(path, e[1].offset + e[1].bytes - 1);  // the last scale byte of b.weight
  WeightCache second(dir, "model", "k");
  EXPECT_EQ(Load(second, ms), 2);  // a and c mapped; b quantized again (Load compared the bytes)
  WeightCache third(dir, "model", "k");
  EXPECT_EQ(Load(third, ms), 3);
}

TEST_P(WeightCacheTest, FlippedHeaderByteIsDetected) {
  const std::string dir = TempDir("header");
  const Matrices ms(GetParam());
  WeightCache first(dir, "model", "k");
  Load(first, ms);
  const std::string path = first.PathOf(GetParam());
  // The first entry's recorded row count, inside the table (covered by the header hash only).
  FlipByte(path, 64 + KeyOf("k", GetParam()).size() + 8);
  WeightCache second(dir, "model", "k");
  EXPECT_EQ(Load(second, ms), 0);
  WeightCache third(dir, "model", "k");
  EXPECT_EQ(Load(third, ms), 3);
}

TEST_P(WeightCacheTest, OtherFileVersionIsRebuilt) {
  const std::string dir = TempDir("version");
  const Matrices ms(GetParam());
  WeightCache first(dir, "model", "k");
  Load(first, ms);
  const std::string path = first.PathOf(GetParam());
  FlipByte(path, 8);  // the file version
  WeightCache second(dir, "model", "k");
  EXPECT_EQ(Load(second, ms), 0);
  WeightCache third(dir, "model", "k");
  EXPECT_EQ(Load(third, ms), 3);
}

TEST_P(WeightCacheTest, OtherKeyIsRebuiltInPlace) {
  const std::string dir = TempDir("key");
  const Matrices ms(GetParam());
  WeightCache first(dir, "model", "source-1");
  Load(first, ms);
  WeightCache changed(dir, "model", "source-2");  // the checkpoint's files changed
  EXPECT_EQ(Load(changed, ms), 0);
  // One file per (model, format): the new key replaced the old file.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  WeightCache old(dir, "model", "source-1");
  EXPECT_EQ(Load(old, ms), 0);
}

TEST_P(WeightCacheTest, ConcurrentWritersLeaveAWholeFile) {
  const std::string dir = TempDir("concurrent");
  const Matrices ms(GetParam());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        WeightCache c(dir, "model", "k");
        Load(c, ms);  // each load compares whatever it maps with the matrices
        // Readers of the file meanwhile see either no file or a whole one.
        WeightCache reader(dir, "model", "k");
        const kernels::WeightView v = ms.m[2]->view();
        const auto found = reader.Find(ms.names[2], v.type, v.rows, v.cols);
        ASSERT_TRUE(found);  // written at least once by this thread already
        EXPECT_EQ(std::memcmp(found->view.data, v.data, ms.Bytes(2)), 0);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  WeightCache last(dir, "model", "k");
  EXPECT_EQ(Load(last, ms), 3);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST_P(WeightCacheTest, UnwritableFolderWarnsOnce) {
  const std::string dir = TempDir("unwritable");
  const std::string blocker = dir + "/file";
  std::ofstream(blocker) << "x";
  const Matrices ms(GetParam());
  WeightCache cache(blocker + "/weights", "model", "k");  // under a regular file: never creatable
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(Load(cache, ms), 0);
  EXPECT_EQ(Load(cache, ms), 0);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(cache.problem().empty());
  EXPECT_NE(err.find("warning"), std::string::npos) << err;
  EXPECT_EQ(err.find("warning"), err.rfind("warning")) << err;  // once
}

TEST_P(WeightCacheTest, StaleTemporariesAreRemoved) {
  const std::string dir = TempDir("stale");
  const Matrices ms(GetParam());
  const std::string tmp =
      dir + "/model." + std::string(WeightFormatName(GetParam())) + ".tmp.dead01";
  std::ofstream(tmp) << "half a file";
  fs::last_write_time(tmp, fs::file_time_type::clock::now() - std::chrono::hours(2));
  WeightCache cache(dir, "model", "k");
  Load(cache, ms);
  EXPECT_FALSE(fs::exists(tmp));
}

INSTANTIATE_TEST_SUITE_P(Formats, WeightCacheTest,
                         ::testing::Values(WeightFormat::kQ8, WeightFormat::kQ4),
                         [](const auto& info) {
                           return std::string(WeightFormatName(info.param));
                         });

// Every prefix of a valid file and every single flipped byte of its header is refused by the
// parser (never read out of bounds: the ASan build runs this too).
TEST(WeightCacheFileTest, DamagedHeadersAreRefused) {
  const Matrices ms(WeightFormat::kQ4);
  std::vector<WeightCacheTensor> tensors;
  for (size_t i = 0; i < ms.m.size(); ++i) tensors.push_back({ms.names[i], ms.m[i]->view()});
  std::vector<WeightCacheEntry> entries;
  std::vector<uint8_t> file =
      SerializeWeightCacheHeader(WeightFormat::kQ4, "key", tensors, entries);
  const size_t header = file.size();
  file.resize(entries.back().offset + entries.back().bytes);
  file.resize((file.size() + 63) / 64 * 64, 0);
  for (size_t i = 0; i < tensors.size(); ++i)
    std::memcpy(file.data() + entries[i].offset, tensors[i].view.data, entries[i].bytes);
  ASSERT_TRUE(ParseWeightCacheFile(file, WeightFormat::kQ4, "key"));
  for (const WeightCacheEntry& e : entries) EXPECT_TRUE(WeightCacheEntryIntact(file, e));
  EXPECT_FALSE(ParseWeightCacheFile(file, WeightFormat::kQ8, "key"));
  EXPECT_FALSE(ParseWeightCacheFile(file, WeightFormat::kQ4, "kez"));
  for (size_t n = 0; n < file.size(); n += 7)
    EXPECT_FALSE(ParseWeightCacheFile(std::span(file).first(n), WeightFormat::kQ4, "key")) << n;
  for (size_t i = 0; i < header; ++i) {
    std::vector<uint8_t> bad = file;
    bad[i] ^= 0x01;
    // The header hash covers everything before the data, the padding after the table included.
    EXPECT_FALSE(ParseWeightCacheFile(bad, WeightFormat::kQ4, "key")) << "byte " << i;
  }
}

}  // namespace
}  // namespace qwenvl::compute
