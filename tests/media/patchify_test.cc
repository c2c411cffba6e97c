#include "media/patchify.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "media/image_decode.h"
#include "media/image_preprocess.h"
#include "media_test_util.h"
#include "util/error.h"

namespace qwenvl::media {
namespace {

using testing::PreprocessData;
using testing::ReadSafetensors;

// The reference layout written out as the loops of model-spec §6.5 over a [T][c][y][x] view.
std::vector<float> ReferenceFlatten(const std::vector<RgbImage>& frames_in) {
  std::vector<RgbImage> frames = frames_in;
  if (frames.size() % 2) frames.push_back(frames.back());
  const int64_t gt = frames.size() / 2, gh = frames[0].height / 14, gw = frames[0].width / 14;
  const int width = frames[0].width;
  std::vector<float> out(gt * gh * gw * 1176);
  for (int64_t t = 0; t < gt; ++t)
    for (int64_t bh = 0; bh < gh / 2; ++bh)
      for (int64_t bw = 0; bw < gw / 2; ++bw)
        for (int mh = 0; mh < 2; ++mh)
          for (int mw = 0; mw < 2; ++mw) {
            const int64_t r = ((t * (gh / 2) + bh) * (gw / 2) + bw) * 4 + mh * 2 + mw;
            for (int c = 0; c < 3; ++c)
              for (int tt = 0; tt < 2; ++tt)
                for (int py = 0; py < 14; ++py)
                  for (int px = 0; px < 14; ++px) {
                    const int64_t y = (2 * bh + mh) * 14 + py, x = (2 * bw + mw) * 14 + px;
                    const uint8_t v = frames[2 * t + tt].pixels[(y * width + x) * 3 + c];
                    out[r * 1176 + c * 392 + tt * 196 + py * 14 + px] =
                        (static_cast<float>(v) / 255.0f - kClipMean[c]) / kClipStd[c];
                  }
          }
  return out;
}

float MaxAbsDiff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

TEST(Patchify, MatchesReferenceFlatteningOfFixtureRgb) {
  const auto t = ReadSafetensors(PreprocessData("images.safetensors"));
  for (const char* key : {"ocr_example2.small.resized_rgb", "unireco_bird_example.tiny.resized_rgb",
                          "docparsing_example7.small.resized_rgb"}) {
    const RgbImage img = t.at(key).image();
    const Patches p = Patchify(std::span<const RgbImage>(&img, 1), {});
    EXPECT_EQ(p.grid_t, 1);
    EXPECT_EQ(p.grid_h, img.height / 14);
    EXPECT_EQ(p.grid_w, img.width / 14);
    const std::vector<float> want = ReferenceFlatten({img});
    ASSERT_EQ(p.values.size(), want.size());
    EXPECT_LE(MaxAbsDiff(p.values.data(), want.data(), want.size()), 1e-6f) << key;
  }
}

// The processor's own pixel values (torchvision resize, so one or two levels off PIL's bytes).
TEST(Patchify, PipelineWithinToleranceOfProcessorPixelValues) {
  const auto t = ReadSafetensors(PreprocessData("images.safetensors"));
  for (const char* name : {"ocr_example2", "unireco_bird_example"}) {
    const RgbImage img = DecodeImageFile(PreprocessData(std::string("photos/") + name + ".jpg"));
    ImageBudget budget;
    budget.min_pixels = 3136;
    budget.max_pixels = 100352;
    const PreprocessedImage pre = PreprocessImage(img, budget);
    const auto& want = t.at(std::string(name) + ".small.pixel_values");
    ASSERT_EQ(pre.patches.rows(), want.shape[0]) << name;
    ASSERT_EQ(want.shape[1], 1176);
    const std::vector<float> w = want.floats();
    EXPECT_LE(MaxAbsDiff(pre.patches.values.data(), w.data(), w.size()), 0.031f) << name;
  }
}

// Video frames (already at a multiple of 28): an odd count repeats the last frame; compared with
// the video processor's output for the 5-frame clip (tests/data/preprocess/make_video_subset.py).
TEST(Patchify, OddFrameCountRepeatsLastFrame) {
  const auto t = ReadSafetensors(PreprocessData("video_subset.safetensors"));
  const auto& f = t.at("frames_2_to_4");
  const size_t frame_bytes = 196 * 252 * 3;
  std::vector<RgbImage> frames(3);
  for (int i = 0; i < 3; ++i) {
    frames[i].height = 196;
    frames[i].width = 252;
    frames[i].pixels.assign(f.bytes.begin() + i * frame_bytes,
                            f.bytes.begin() + (i + 1) * frame_bytes);
  }
  const Patches p = Patchify(frames, {});
  EXPECT_EQ(p.grid_t, 2);
  EXPECT_EQ(p.grid_h, 14);
  EXPECT_EQ(p.grid_w, 18);
  const std::vector<float> want = ReferenceFlatten(frames);
  EXPECT_LE(MaxAbsDiff(p.values.data(), want.data(), want.size()), 1e-6f);
  const int64_t rows = 14 * 18;
  const std::vector<float> t1 = t.at("pv5_t1_rows_0_32").floats();
  const std::vector<float> t2 = t.at("pv5_t2_rows_0_64").floats();
  EXPECT_LE(MaxAbsDiff(p.values.data(), t1.data(), t1.size()), 1e-5f);
  EXPECT_LE(MaxAbsDiff(p.values.data() + rows * 1176, t2.data(), t2.size()), 1e-5f);
}

TEST(Patchify, PoolGivesTheSameValues) {
  const auto t = ReadSafetensors(PreprocessData("images.safetensors"));
  const RgbImage img = t.at("computer_use2.small.resized_rgb").image();
  ThreadPool pool(2);
  PatchifyOptions o;
  o.pool = &pool;
  EXPECT_EQ(Patchify(std::span<const RgbImage>(&img, 1), o).values,
            Patchify(std::span<const RgbImage>(&img, 1), {}).values);
}

TEST(Patchify, CustomMeanStd) {
  RgbImage img;
  img.width = img.height = 28;
  img.pixels.assign(28 * 28 * 3, 255);
  PatchifyOptions o;
  o.image_mean = {0.5f, 0.5f, 0.5f};
  o.image_std = {0.5f, 0.25f, 0.5f};
  const Patches p = Patchify(std::span<const RgbImage>(&img, 1), o);
  EXPECT_EQ(p.rows(), 4);
  EXPECT_FLOAT_EQ(p.values[0], 1.0f);
  EXPECT_FLOAT_EQ(p.values[392], 2.0f);
}

TEST(Patchify, RejectsBadFrames) {
  RgbImage img;
  img.width = 30;
  img.height = 28;
  img.pixels.assign(30 * 28 * 3, 0);
  EXPECT_THROW(Patchify(std::span<const RgbImage>(&img, 1), {}), Error);
  EXPECT_THROW(Patchify(std::span<const RgbImage>(), {}), Error);
  RgbImage a, b;
  a.width = a.height = b.width = 28;
  b.height = 56;
  a.pixels.assign(28 * 28 * 3, 0);
  b.pixels.assign(28 * 56 * 3, 0);
  const std::vector<RgbImage> mixed = {a, b};
  EXPECT_THROW(Patchify(mixed, {}), Error);
}

}  // namespace
}  // namespace qwenvl::media
