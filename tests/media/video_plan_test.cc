// Video plans: what a video file or a frame list will be decoded into, read from headers before
// any frame is decoded, and the before_decode hook that lets a caller refuse it at that point.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "crafted_images.h"
#include "media/video_preprocess.h"
#include "media_test_util.h"
#include "util/error.h"

namespace qwenvl::media {
namespace {

namespace fs = std::filesystem;

std::string Data(const std::string& name) {
  return std::string(QWENVL_TEST_DATA) + "/video/" + name;
}

void ExpectSamePlan(const VideoPlan& a, const VideoPlan& b) {
  EXPECT_EQ(a.orig_width, b.orig_width);
  EXPECT_EQ(a.orig_height, b.orig_height);
  EXPECT_EQ(a.total_frames, b.total_frames);
  EXPECT_EQ(a.nframes, b.nframes);
  EXPECT_EQ(a.resized.width, b.resized.width);
  EXPECT_EQ(a.resized.height, b.resized.height);
}

// A plan error that no decoder raises, to tell a refusal by before_decode from a decode failure.
Error Refusal() { return Error(ErrorCode::kOutOfRange, "refused by the plan check"); }

class VideoPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("qwenvl_video_plan_" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string path = (dir_ / name).string();
    testing::WriteBytes(path, bytes);
    return path;
  }
  fs::path dir_;
};

TEST_F(VideoPlanTest, FilePlanIsWhatTheDecodePassUses) {
  const VideoPlan plan = PlanVideoFile(Data("testsrc-4s.mp4"), {});
  EXPECT_EQ(plan.orig_width, 320);
  EXPECT_EQ(plan.orig_height, 240);
  EXPECT_EQ(plan.total_frames, 120);
  EXPECT_EQ(plan.nframes, 8);
  EXPECT_EQ(plan.resized.width, 392);
  EXPECT_EQ(plan.resized.height, 280);
  std::vector<VideoPlan> seen;
  const PreprocessedVideo v = PreprocessVideoFile(Data("testsrc-4s.mp4"), {}, {}, {},
                                                  [&](const VideoPlan& p) { seen.push_back(p); });
  ASSERT_EQ(seen.size(), 1u);
  ExpectSamePlan(seen[0], plan);
  EXPECT_EQ(static_cast<int64_t>(v.frame_indices.size()), plan.nframes);
  EXPECT_EQ(v.resized_width, plan.resized.width);

  // Options change the plan as they change the decode; from memory as from the file.
  const VideoOptions options{.nframes = 6, .min_pixels = 3136, .max_pixels = 28 * 28 * 40};
  const std::vector<uint8_t> bytes = testing::ReadBytes(Data("testsrc-4s.mp4"));
  const VideoPlan small = PlanVideoMemory(bytes, "testsrc", options);
  EXPECT_EQ(small.nframes, 6);
  EXPECT_EQ(small.resized.width, 196);
  EXPECT_EQ(small.resized.height, 140);
  ExpectSamePlan(PlanVideoFile(Data("testsrc-4s.mp4"), options), small);
}

TEST_F(VideoPlanTest, RefusalStopsTheFileBeforeAnyFrame) {
  int calls = 0;
  try {
    PreprocessVideoFile(Data("testsrc-4s.mp4"), {}, {}, {}, [&](const VideoPlan&) {
      ++calls;
      throw Refusal();
    });
    FAIL() << "the refusal did not stop the decode";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "refused by the plan check");
  }
  EXPECT_EQ(calls, 1);
}

TEST_F(VideoPlanTest, ResampledStreamIsCheckedAgain) {
  // truncated_mid.mp4 claims 120 frames but holds fewer: the second pass has its own plan.
  std::vector<VideoPlan> seen;
  const PreprocessedVideo v = PreprocessVideoFile(Data("truncated_mid.mp4"), {}, {}, {},
                                                  [&](const VideoPlan& p) { seen.push_back(p); });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].total_frames, 120);
  EXPECT_EQ(seen[1].total_frames, v.total_frames);
  EXPECT_EQ(seen[1].nframes, static_cast<int64_t>(v.frame_indices.size()));
}

TEST_F(VideoPlanTest, FrameListIsPlannedFromHeaders) {
  const std::vector<std::string> frames = {Data("frame0.png"), Data("frame1.png"),
                                           Data("frame2.png")};
  const VideoPlan plan = PlanVideoFrames(frames, {});
  EXPECT_EQ(plan.orig_width, 64);
  EXPECT_EQ(plan.orig_height, 48);
  EXPECT_EQ(plan.total_frames, 3);
  EXPECT_EQ(plan.nframes, 3);
  EXPECT_EQ(plan.resized.width, 56);
  EXPECT_EQ(plan.resized.height, 56);
  std::optional<VideoPlan> seen;
  const PreprocessedVideo v =
      PreprocessVideoFrames(frames, {}, {}, {}, [&](const VideoPlan& p) { seen = p; });
  ASSERT_TRUE(seen.has_value());
  ExpectSamePlan(*seen, plan);
  EXPECT_EQ(v.patches.grid_t, 2);
}

TEST_F(VideoPlanTest, FrameListRefusedBeforeAnyImageIsDecoded) {
  // The second image has a whole header but no pixel data: decoding it would fail with
  // kCorruptFile, so any other error shows that nothing was decoded.
  const std::string first = Data("frame0.png");  // 64x48
  const std::string same_size = Write("same.png", testing::HeaderOnly(testing::BilevelPng(64, 48)));
  const std::string wide = Write("wide.png", testing::HeaderOnly(testing::BilevelPng(640, 48)));
  try {
    PreprocessVideoFrames({first, wide}, {}, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("one size"), std::string::npos) << e.what();
  }
  try {
    PreprocessVideoFrames({first, same_size}, {}, {}, {},
                          [](const VideoPlan&) { throw Refusal(); });
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "refused by the plan check");
  }
  // Without a refusal the list is decoded, and the missing pixels are found.
  try {
    PreprocessVideoFrames({first, same_size}, {}, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruptFile) << e.what();
  }
}

TEST_F(VideoPlanTest, FrameListObeysTheImagePixelLimit) {
  DecodeLimits limits;
  limits.max_pixels = 64 * 48 - 1;
  try {
    PreprocessVideoFrames({Data("frame0.png")}, {}, {}, limits);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
    EXPECT_NE(std::string(e.what()).find("frame0.png"), std::string::npos) << e.what();
  }
  EXPECT_THROW(PlanVideoFrames({}, {}), Error);
}

}  // namespace
}  // namespace qwenvl::media
