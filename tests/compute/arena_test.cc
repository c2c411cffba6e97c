// Arena: the tensors of a plan carved out of one allocation, aligned, disjoint, each readable and
// writable through the backend like a buffer of its own.
#include "compute/arena.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <thread>
#include <vector>

#include "compute/backends.h"
#include "compute/tensor.h"
#include "util/thread_pool.h"

namespace qwenvl::compute {
namespace {

TEST(Arena, PlanAlignsEverySlotAndCountsThePadding) {
  ArenaPlan plan;
  EXPECT_EQ(plan.Add(3, 5), 0u);   // 15 floats → 1 unit
  EXPECT_EQ(plan.Add(0, 7), 1u);   // empty → 0 units
  EXPECT_EQ(plan.Add(2, 16), 2u);  // 32 floats → 2 units
  EXPECT_EQ(plan.Add(1, 17), 3u);  // 17 floats → 2 units
  EXPECT_EQ(plan.slots(), 4u);
  EXPECT_EQ(plan.floats(), (1 + 0 + 2 + 2) * ArenaPlan::kAlignFloats);
}

class ArenaOnBackend : public ::testing::TestWithParam<const char*> {};

TEST_P(ArenaOnBackend, SlotsAreDisjointZeroedAndKeepTheirValues) {
  ThreadPool pool(2);
  const auto backend = MakeBackend(GetParam(), pool);
  const std::vector<std::pair<int64_t, int64_t>> shapes = {
      {3, 5}, {0, 7}, {4, 33}, {1, 1}, {7, 16}, {1024, 600}};  // the last past 2 MiB
  ArenaPlan plan;
  for (const auto& [rows, cols] : shapes) plan.Add(rows, cols);
  const Arena arena(*backend, plan);
  ASSERT_EQ(arena.slots(), shapes.size());
  EXPECT_EQ(arena.bytes(), plan.floats() * 4);

  // Each slot has its shape, starts zeroed, and gets its own values; writing every slot and then
  // reading them all back finds no slot overwritten by another.
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Tensor t = arena[i];
    ASSERT_EQ(t.rows(), shapes[i].first);
    ASSERT_EQ(t.cols(), shapes[i].second);
    EXPECT_TRUE(t.contiguous());
    std::vector<float> read(static_cast<size_t>(t.size()), -1.0f);
    backend->Download(t, read);
    for (float v : read) ASSERT_EQ(v, 0.0f);
    std::vector<float> values(static_cast<size_t>(t.size()));
    std::iota(values.begin(), values.end(), 1000.0f * static_cast<float>(i));
    backend->Upload(values, t);
  }
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Tensor t = arena[i];
    std::vector<float> expected(static_cast<size_t>(t.size()));
    std::iota(expected.begin(), expected.end(), 1000.0f * static_cast<float>(i));
    std::vector<float> read(expected.size());
    backend->Download(t, read);
    EXPECT_EQ(read, expected) << "slot " << i;
  }
}

TEST_P(ArenaOnBackend, SlotsWorkAsOperandsOfTheOps) {
  ThreadPool pool(2);
  const auto backend = MakeBackend(GetParam(), pool);
  ArenaPlan plan;
  const size_t a = plan.Add(2, 3);
  const size_t b = plan.Add(2, 3);
  const Arena arena(*backend, plan);
  const std::vector<float> x = {1, 2, 3, 4, 5, 6}, y = {10, 20, 30, 40, 50, 60};
  backend->Upload(x, arena[a]);
  backend->Upload(y, arena[b]);
  backend->Add(arena[a], arena[b]);
  std::vector<float> sum(6), second(6);
  backend->Download(arena[a], sum);
  backend->Download(arena[b], second);
  EXPECT_EQ(sum, (std::vector<float>{11, 22, 33, 44, 55, 66}));
  EXPECT_EQ(second, y);
}

// Buffers below and above the size that gets pages of its own, made and freed by several threads
// at once (the host backends guard their bookkeeping); those kept are zeroed, disjoint and keep
// their values (checked from one thread, as the backend contract asks of operations).
TEST_P(ArenaOnBackend, SmallAndLargeBuffersFromSeveralThreads) {
  ThreadPool pool(2);
  const auto backend = MakeBackend(GetParam(), pool);
  constexpr int kThreads = 4, kRounds = 20;
  std::vector<std::vector<Buffer>> kept(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        const int64_t rows = (round + t) % 2 == 0 ? 3 : 1100;  // 1100 x 512 floats: 2.2 MiB
        Buffer b = backend->Allocate(rows, 512);
        if (round % 5 == 0) kept[t].push_back(std::move(b));  // the others are freed at once
      }
    });
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    for (size_t i = 0; i < kept[t].size(); ++i) {
      const Buffer& b = kept[t][i];
      std::vector<float> read(static_cast<size_t>(b.tensor().size()), -1.0f);
      backend->Download(b, read);
      for (float v : read) ASSERT_EQ(v, 0.0f);
      const std::vector<float> values(read.size(), static_cast<float>(t * 100 + i));
      backend->Upload(values, b);
    }
  }
  for (int t = 0; t < kThreads; ++t) {
    for (size_t i = 0; i < kept[t].size(); ++i) {
      std::vector<float> read(static_cast<size_t>(kept[t][i].tensor().size()));
      backend->Download(kept[t][i], read);
      EXPECT_EQ(read, std::vector<float>(read.size(), static_cast<float>(t * 100 + i)));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ArenaOnBackend, ::testing::Values("cpu", "reference"));

}  // namespace
}  // namespace qwenvl::compute
