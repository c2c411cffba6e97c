// The KV cache grows its storage with the sequence (in chunks), keeping the valid rows, and copies
// another cache's prefix.
#include "model/kv_cache.h"

#include <gtest/gtest.h>

#include <vector>

#include "test_models.h"
#include "util/error.h"

namespace qwenvl::model {
namespace {

using testing::TestBackend;

TEST(KvCache, AllocatesNothingUntilReserved) {
  KvCache c(TestBackend(), 36, 32768, 2, 128);  // the 3B shape at the default context
  EXPECT_EQ(c.reserved(), 0);
  EXPECT_EQ(c.allocated_bytes(), 0);
  c.Reserve(10);
  EXPECT_EQ(c.reserved(), KvCache::kChunkTokens);
  EXPECT_EQ(c.allocated_bytes(), 2 * 36 * KvCache::kChunkTokens * 256 * 4);
}

TEST(KvCache, GrowthKeepsValidRows) {
  compute::Backend& b = TestBackend();
  KvCache c(b, 2, 1000, 1, 4);
  c.Reserve(3);
  for (int64_t l = 0; l < 2; ++l) {
    std::vector<float> k(12), v(12);
    for (int64_t i = 0; i < 12; ++i) {
      k[i] = static_cast<float>(100 * l + i);
      v[i] = -static_cast<float>(100 * l + i);
    }
    b.Upload(k, c.keys(l).Rows(0, 3));
    b.Upload(v, c.values(l).Rows(0, 3));
  }
  c.Advance(3);
  c.Reserve(700);  // grows
  EXPECT_GE(c.reserved(), 700);
  EXPECT_LE(c.reserved(), 1000);
  for (int64_t l = 0; l < 2; ++l) {
    std::vector<float> k(12), v(12);
    b.Download(c.keys(l).Rows(0, 3), k);
    b.Download(c.values(l).Rows(0, 3), v);
    for (int64_t i = 0; i < 12; ++i) {
      EXPECT_EQ(k[i], static_cast<float>(100 * l + i));
      EXPECT_EQ(v[i], -static_cast<float>(100 * l + i));
    }
  }
  c.Reserve(1000);
  EXPECT_EQ(c.reserved(), 1000);  // never past the capacity
  EXPECT_THROW(c.Reserve(1001), Error);
  EXPECT_THROW(c.Advance(998), Error);
}

// CopyPrefix: the first rows of another cache, every layer, keys and values; the old contents go,
// the storage grows as needed; the source is unchanged.
TEST(KvCache, CopyPrefixTakesTheOthersFirstRows) {
  compute::Backend& b = TestBackend();
  KvCache from(b, 2, 1000, 1, 4), to(b, 2, 1000, 1, 4);
  const int64_t rows = 300;  // past one chunk: `to` grows
  from.Reserve(rows);
  for (int64_t l = 0; l < 2; ++l) {
    std::vector<float> k(rows * 4), v(rows * 4);
    for (int64_t i = 0; i < rows * 4; ++i) {
      k[i] = static_cast<float>(10000 * l + i);
      v[i] = -static_cast<float>(10000 * l + i);
    }
    b.Upload(k, from.keys(l).Rows(0, rows));
    b.Upload(v, from.values(l).Rows(0, rows));
  }
  from.Advance(rows);
  to.Reserve(5);
  to.Advance(5);  // contents that go
  to.CopyPrefix(from, 260);
  EXPECT_EQ(to.length(), 260);
  EXPECT_GE(to.reserved(), 260);
  EXPECT_EQ(from.length(), rows);
  for (int64_t l = 0; l < 2; ++l) {
    std::vector<float> k(260 * 4), v(260 * 4);
    b.Download(to.keys(l).Rows(0, 260), k);
    b.Download(to.values(l).Rows(0, 260), v);
    for (int64_t i = 0; i < 260 * 4; ++i) {
      ASSERT_EQ(k[i], static_cast<float>(10000 * l + i)) << l << " " << i;
      ASSERT_EQ(v[i], -static_cast<float>(10000 * l + i)) << l << " " << i;
    }
  }
  to.CopyPrefix(from, 0);
  EXPECT_EQ(to.length(), 0);
}

}  // namespace
}  // namespace qwenvl::model
