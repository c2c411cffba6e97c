#include "model/vision_encoder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>

#include "io/model_folder.h"
#include "io/test_checkpoint.h"
#include "test_models.h"
#include "util/error.h"
#include "util/thread_pool.h"
#include "vision_fixtures.h"

namespace qwenvl::model {
namespace {

namespace fs = std::filesystem;

// fixtures README: float32 intermediates within 1e-3 of the reference, relative to its largest
// magnitude.
constexpr double kRelTolerance = 1e-3;

double MaxRelError(const std::vector<float>& got, const std::vector<float>& want) {
  EXPECT_EQ(got.size(), want.size());
  if (got.size() != want.size()) return INFINITY;
  double max_ref = 0, max_err = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(want[i])));
    max_err = std::max(max_err, std::fabs(static_cast<double>(got[i]) - want[i]));
  }
  return max_err / std::max(max_ref, 1e-30);
}

// The tiny and small checkpoints, written once per suite by the test-checkpoint generator (they
// reproduce the fixture checkpoints byte for byte).
class VisionEncoderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("qwenvl_vision_" + std::to_string(::getpid()));
    for (const char* name : {"tiny", "small"}) {
      const fs::path dir = root_ / name;
      io::WriteTestModel(io::GetTestModelPreset(name), dir.string(),
                         QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct");
      folders_[name] = std::make_unique<io::ModelFolder>(io::ModelFolder::Open(dir.string()));
      encoders_[name] = std::make_unique<VisionEncoder>(testing::TestBackend(), *folders_[name]);
    }
  }
  static void TearDownTestSuite() {
    encoders_.clear();
    folders_.clear();
    fs::remove_all(root_);
  }

  static inline fs::path root_;
  static inline std::map<std::string, std::unique_ptr<io::ModelFolder>> folders_;
  static inline std::map<std::string, std::unique_ptr<VisionEncoder>> encoders_;
};

// Every vision tap and the merger output of every fixture case; the window layout exactly.
TEST_F(VisionEncoderTest, MatchesTheReferenceCases) {
  for (const char* name : {"tiny.image", "tiny.two_images", "tiny.video", "small.image",
                           "small.two_images", "small.video", "small.image_video"}) {
    SCOPED_TRACE(name);
    const testing::VisionCase c = testing::LoadVisionCase(name);
    const std::vector<float> pixels = testing::LoadPixelValues(c);
    io::SafetensorsFile ref(testing::kModelData + "/" + name + ".safetensors");
    VisionTaps taps;
    taps.enabled = true;
    const std::vector<float> embeds = encoders_.at(c.model)->Encode(pixels, c.grids, &taps);
    EXPECT_EQ(taps.window_index, testing::FixtureValues<int64_t>(ref, "vision_window_index"));
    EXPECT_EQ(taps.cu_window_seqlens,
              testing::FixtureValues<int64_t>(ref, "vision_cu_window_seqlens"));
    const std::pair<const char*, const std::vector<float>*> tensors[] = {
        {"vision_patch_embed", &taps.patch_embed},
        {"vision_block0", &taps.block0},
        {"vision_block_last", &taps.block_last},
        {"vision_embeds", &embeds}};
    for (const auto& [tensor, got] : tensors) {
      const double err = MaxRelError(*got, testing::FixtureValues<float>(ref, tensor));
      EXPECT_LT(err, kRelTolerance) << tensor;
      std::printf("  %-18s %-20s max rel error %.3g\n", name, tensor, err);
    }
  }
}

// Items never interact: encoding two items together equals encoding them one by one, and an
// encoder on a 1-thread backend gives the same numbers as one on the shared backend.
TEST_F(VisionEncoderTest, ItemsAreIndependent) {
  const testing::VisionCase c = testing::LoadVisionCase("small.image_video");
  const std::vector<float> pixels = testing::LoadPixelValues(c);
  const VisionEncoder& enc = *encoders_.at("small");
  const std::vector<float> both = enc.Encode(pixels, c.grids);
  const int64_t split = c.grids[0].num_patches() * enc.config().patch_dim();
  ThreadPool one(1);
  compute::CpuBackend one_thread(one, {.spec = "f32", .cache_path = "none"});
  const VisionEncoder alone(one_thread, *folders_.at("small"));
  std::vector<float> apart = alone.Encode(std::span(pixels).first(split), {&c.grids[0], 1});
  const std::vector<float> video = enc.Encode(std::span(pixels).subspan(split), {&c.grids[1], 1});
  apart.insert(apart.end(), video.begin(), video.end());
  EXPECT_LT(MaxRelError(both, apart), 1e-5);
}

// The scheduler's hook runs once after every block, on the caller's thread, and may use the
// backend itself (it runs other sequences' decode steps there) without changing the result.
TEST_F(VisionEncoderTest, BetweenBlocksHookRunsAfterEachBlock) {
  const testing::VisionCase c = testing::LoadVisionCase("small.image_video");
  const std::vector<float> pixels = testing::LoadPixelValues(c);
  const VisionEncoder& enc = *encoders_.at("small");
  const std::vector<float> plain = enc.Encode(pixels, c.grids);
  int64_t calls = 0;
  const std::thread::id caller = std::this_thread::get_id();
  const std::vector<float> hooked = enc.Encode(pixels, c.grids, nullptr, [&] {
    ++calls;
    EXPECT_EQ(std::this_thread::get_id(), caller);
    compute::Backend& b = testing::TestBackend();
    const compute::Buffer x = b.Allocate(64, 1024);  // large enough to run on the pool
    b.Add(x, x);
  });
  EXPECT_EQ(calls, enc.config().depth);
  EXPECT_EQ(plain, hooked);
}

TEST_F(VisionEncoderTest, RejectsInconsistentInputs) {
  const VisionEncoder& enc = *encoders_.at("tiny");
  const int64_t patch_dim = enc.config().patch_dim();
  const GridThw good{1, 4, 4}, odd{1, 3, 4}, empty{0, 4, 4};
  std::vector<float> pixels(static_cast<size_t>(16 * patch_dim), 0.5f);
  EXPECT_EQ(enc.Encode(pixels, {&good, 1}).size(),
            static_cast<size_t>(4 * enc.config().out_hidden_size));
  EXPECT_THROW(enc.Encode(std::span(pixels).first(pixels.size() - 1), {&good, 1}), Error);
  EXPECT_THROW(enc.Encode(pixels, {&odd, 1}), Error);
  EXPECT_THROW(enc.Encode(pixels, {&empty, 1}), Error);
  EXPECT_TRUE(enc.Encode({}, {}).empty());
}

}  // namespace
}  // namespace qwenvl::model
