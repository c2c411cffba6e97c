// The KV cache grows its storage with the sequence (in chunks), keeping the valid rows.
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

}  // namespace
}  // namespace qwenvl::model
