// Media budgets checked from headers before any pixel is held: the request's vision tokens against
// the context, the decoded-pixel cap, decompression bombs, and the process memory around a request
// (peak while it runs, resident size after it), on the tiny random checkpoint.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../media/crafted_images.h"
#include "io/test_checkpoint.h"
#include "media/preprocessor_config.h"
#include "qwenvl/engine.h"
#include "runtime/media_input.h"
#include "util/error.h"
#include "util/memory.h"

namespace qwenvl {
namespace {

namespace fs = std::filesystem;
using media::testing::BilevelPng;
using media::testing::GrayRampPng;
using media::testing::HeaderOnly;

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kContext = 4096;
// Peak growth allowed while a request that must be refused runs: far below one decoded 3584x3584
// frame plus its patches, well above the allocator's and the tokenizer's noise.
constexpr int64_t kRefusalPeakBound = 100 * kMiB;

// Largest resident growth while fn runs: the kernel's high-water mark after resetting it, or, where
// the kernel does not allow the reset, VmRSS sampled every millisecond.
int64_t PeakGrowth(const std::function<void()>& fn) {
  ReleaseFreeMemory();
  const int64_t before = ResidentBytes();
  if (ResetPeakResident()) {
    fn();
    return PeakResidentBytes() - before;
  }
  std::atomic<bool> running{true};
  std::atomic<int64_t> peak{before};
  std::thread sampler([&] {
    while (running) {
      const int64_t now = ResidentBytes();
      if (now > peak) peak = now;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  try {
    fn();
  } catch (...) {
    running = false;
    sampler.join();
    throw;
  }
  running = false;
  sampler.join();
  return peak - before;
}

Request MediaRequest(const std::vector<Media>& media, const std::string& text = "Describe.") {
  Request r;
  Message user;
  user.role = "user";
  for (const Media& m : media) user.content.push_back({ContentPart::Type::kMedia, {}, m});
  user.content.push_back({ContentPart::Type::kText, text, {}});
  r.messages.push_back(user);
  r.sampling.temperature = 0.0f;
  r.sampling.max_new_tokens = 1;
  return r;
}

Media Image(const std::string& path) {
  Media m;
  m.path = path;
  return m;
}

Media FrameList(const std::vector<std::string>& paths) {
  Media m;
  m.kind = Media::Kind::kVideo;
  m.frame_paths = paths;
  return m;
}

// The Error a Generate call ends with (an ADD_FAILURE when it succeeds).
std::optional<Error> GenerateError(Engine& engine, const Request& r) {
  try {
    engine.Generate(r);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "the request was not refused";
  return std::nullopt;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class MediaBudgetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("qwenvl_media_budget_" + std::to_string(getpid())));
    fs::create_directories(*dir_ / "model");
    io::WriteTestModel(io::GetTestModelPreset("tiny"), (*dir_ / "model").string(),
                       QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct");
    EngineOptions o;
    o.model_dir = (*dir_ / "model").string();
    o.threads = 2;
    o.context_length = kContext;
    engine_ = Engine::Load(o).release();
  }
  static void TearDownTestSuite() {
    delete engine_;
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string Write(const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string path = (*dir_ / name).string();
    media::testing::WriteBytes(path, bytes);
    return path;
  }
  static runtime::MediaSettings Settings() {
    runtime::MediaSettings s;
    s.preprocessor = media::LoadPreprocessorConfig(QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct");
    s.max_decoded_image_pixels = EngineOptions{}.max_decoded_image_pixels;
    s.max_media_pixel_bytes = EngineOptions{}.max_media_pixel_bytes;
    s.token_budget = kContext;
    return s;
  }
  static fs::path* dir_;
  static Engine* engine_;
};
fs::path* MediaBudgetTest::dir_ = nullptr;
Engine* MediaBudgetTest::engine_ = nullptr;

TEST_F(MediaBudgetTest, PlansMatchWhatPreparingGives) {
  runtime::MediaSettings s = Settings();
  s.token_budget = 0;
  Media photo = Image(QWENVL_TEST_DATA "/preprocess/photos/computer_use2.jpeg");
  Media frames =
      FrameList({QWENVL_TEST_DATA "/video/frame0.png", QWENVL_TEST_DATA "/video/frame1.png",
                 QWENVL_TEST_DATA "/video/frame2.png"});
  Media video;
  video.kind = Media::Kind::kVideo;
  video.path = QWENVL_TEST_DATA "/video/testsrc-4s.mp4";
  Media small_photo = photo;
  small_photo.max_pixels = 28 * 28 * 30;
  for (const Media* m : {&photo, &small_photo, &frames, &video}) {
    const runtime::MediaPlan plan = runtime::PlanMedia(*m, s);
    const runtime::PreparedMedia prepared = runtime::PrepareMedia(*m, s);
    SCOPED_TRACE(plan.Describe());
    EXPECT_EQ(plan.tokens, prepared.info.tokens);
    EXPECT_EQ(plan.width, prepared.info.original_width);
    EXPECT_EQ(plan.height, prepared.info.original_height);
    EXPECT_EQ(plan.resized_width, prepared.info.resized_width);
    EXPECT_EQ(plan.resized_height, prepared.info.resized_height);
    // A video holds one temporal slice of resized frames at a time.
    const int64_t held = m->kind == Media::Kind::kVideo ? std::min<int64_t>(plan.frames, 2) : 1;
    EXPECT_EQ(plan.held_frames, held);
    EXPECT_EQ(plan.pixel_bytes,
              3 * (plan.width * plan.height + held * plan.resized_width * plan.resized_height));
  }
}

TEST_F(MediaBudgetTest, FourHugeFramesFailBeforeDecoding) {
  // Four 1.6 KB bilevel PNGs of 3584x3584 as one video: 2 temporal patches of 128x128 merged
  // patches, 32768 tokens. Decoding them would hold 4 x 38.5 MB of RGB and 616 MB of patches.
  const std::vector<uint8_t> png = BilevelPng(3584, 3584);
  ASSERT_LT(png.size(), 4096u);
  std::vector<std::string> paths;
  for (int i = 0; i < 4; ++i) paths.push_back(Write("huge" + std::to_string(i) + ".png", png));
  // Their budget is set (unset, the engine would lower it to fit: request_budget_test.cc).
  Media pinned = FrameList(paths);
  pinned.max_pixels = media::kDefaultMaxPixels;
  const Request request = MediaRequest({pinned});

  const runtime::MediaPlan plan = runtime::PlanMedia(pinned, Settings());
  EXPECT_EQ(plan.tokens, 32768);
  EXPECT_EQ(plan.frames, 4);

  std::optional<Error> error;
  const int64_t peak = PeakGrowth([&] { error = GenerateError(*engine_, request); });
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), ErrorCode::kOutOfRange);
  const std::string message = error->what();
  EXPECT_TRUE(Contains(message, "4 frames of 3584x3584")) << message;
  EXPECT_TRUE(Contains(message, "32768 tokens")) << message;
  EXPECT_TRUE(Contains(message, "the context holds 4096 tokens")) << message;
  EXPECT_EQ(error->field(), "media[0].max_pixels");
  std::printf("four 3584x3584 frames: peak RSS growth %.1f MiB, refused: %s\n",
              static_cast<double>(peak) / kMiB, message.c_str());
  EXPECT_LT(peak, kRefusalPeakBound);

  // Submitted (the server's path), the request ends before it is queued, with the same error.
  std::optional<Error> submitted;
  const int64_t submit_peak = PeakGrowth([&] {
    engine_->Submit(request, nullptr, [&](const Result* r, const Error* e) {
      EXPECT_EQ(r, nullptr);
      if (e != nullptr) submitted = *e;
    });
  });
  ASSERT_TRUE(submitted.has_value()) << "the DoneCallback did not run before Submit returned";
  EXPECT_EQ(submitted->code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(std::string(submitted->what()), message);
  EXPECT_LT(submit_peak, kRefusalPeakBound);
}

TEST_F(MediaBudgetTest, PngBombsAreRefusedBeforeDecoding) {
  // 30000x30000 (900 megapixels) is above the pixel limit; 12000x12000 (144 megapixels, 432 MB of
  // RGB from a few KB) is under it but above the decoded-pixel cap.
  struct Bomb {
    int side;
    std::string expected;
  };
  for (const Bomb& bomb :
       {Bomb{30000, "above the limit of 178956970 pixels"}, Bomb{12000, "of pixels at once"}}) {
    const std::string path =
        Write("bomb" + std::to_string(bomb.side) + ".png", BilevelPng(bomb.side, bomb.side));
    ASSERT_LT(fs::file_size(path), 200u * 1024);
    std::optional<Error> error;
    const int64_t peak =
        PeakGrowth([&] { error = GenerateError(*engine_, MediaRequest({Image(path)})); });
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->code(), ErrorCode::kOutOfRange);
    EXPECT_TRUE(Contains(error->what(), bomb.expected)) << error->what();
    std::printf("%dx%d PNG bomb: peak RSS growth %.1f MiB, refused: %s\n", bomb.side, bomb.side,
                static_cast<double>(peak) / kMiB, error->what());
    EXPECT_LT(peak, kRefusalPeakBound);
  }
}

TEST_F(MediaBudgetTest, RequestTokensAreSummedBeforeAnyDecode) {
  // 1120x700 pictures are 40x25 = 1000 tokens each. Their files hold a header and no pixels:
  // decoding one fails with kCorruptFile, so a budget error shows nothing was decoded. Their
  // budget is set, so the engine does not lower it.
  const std::string path = Write("header_only.png", HeaderOnly(BilevelPng(1120, 700)));
  Media pinned = Image(path);
  pinned.max_pixels = media::kDefaultMaxPixels;
  auto request = [&](int images, const std::string& text) {
    return MediaRequest(std::vector<Media>(static_cast<size_t>(images), pinned), text);
  };
  // Each fits alone; five do not (5000 tokens, context 4096).
  std::optional<Error> error = GenerateError(*engine_, request(5, "Compare."));
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), ErrorCode::kOutOfRange);
  EXPECT_TRUE(Contains(error->what(), "5000 vision tokens")) << error->what();
  EXPECT_TRUE(Contains(error->what(), "image 1120x700 resized to 1120x700, 1000 tokens"))
      << error->what();
  // Four (4000 tokens) leave room for a short question: they are decoded, and fail there.
  error = GenerateError(*engine_, request(4, "Compare."));
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), ErrorCode::kCorruptFile) << error->what();
  // A long question counts too.
  std::string long_text;
  for (int i = 0; i < 120; ++i) long_text += " word";
  error = GenerateError(*engine_, request(4, long_text));
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), ErrorCode::kOutOfRange);
  EXPECT_TRUE(Contains(error->what(), "and the text")) << error->what();
}

TEST_F(MediaBudgetTest, LargeLegitimatePictureWorksAndMemoryReturns) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's allocator keeps freed memory in quarantine";
#endif
  // 6000x4000 (72 MB of RGB once decoded), resized to the small budget the request asks for.
  constexpr int kWidth = 6000, kHeight = 4000;
  auto request = [&](int shade) {
    Media m =
        Image(Write("large" + std::to_string(shade) + ".png", GrayRampPng(kWidth, kHeight, shade)));
    m.max_pixels = 28 * 28 * 64;
    return MediaRequest({m});
  };
  // The first request settles what stays allocated for good (pool threads, caches' first entries).
  const Result warm = engine_->Generate(request(0));
  ASSERT_EQ(warm.media.size(), 1u);
  EXPECT_EQ(warm.media[0].original_width, kWidth);
  EXPECT_EQ(warm.media[0].original_height, kHeight);
  EXPECT_LE(warm.media[0].resized_width * warm.media[0].resized_height, 28 * 28 * 64);

  const Request second = request(1);  // other content: decoded again, not a cache hit
  ReleaseFreeMemory();
  const int64_t before = ResidentBytes();
  Result r;
  const int64_t peak = PeakGrowth([&] { r = engine_->Generate(second); });
  const int64_t after = ResidentBytes();
  EXPECT_EQ(r.completion_tokens, 1);
  std::printf("6000x4000 picture: peak RSS growth %.1f MiB, steady growth %.1f MiB\n",
              static_cast<double>(peak) / kMiB, static_cast<double>(after - before) / kMiB);
  EXPECT_GT(peak, 60 * kMiB);  // the decode did hold the picture while it ran
  // and gave it back afterwards: about 3 MiB stay (the cached patches among them); with the
  // allocator's free pages kept, about 14 MiB would.
  EXPECT_LT(after - before, 8 * kMiB);
}

}  // namespace
}  // namespace qwenvl
