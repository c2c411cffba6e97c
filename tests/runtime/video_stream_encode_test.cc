// A video encoded one temporal slice at a time as it is decoded (MediaSettings::video_encoder)
// gives the rows of the whole clip encoded at once: the vision encoder's windows and full-attention
// segments never cross a grid_t slice (model-spec §3.4) and its rotary angles depend on h and w
// only. Compared bitwise where every matmul of a slice takes the same kernel path as the clip's:
// the CPU matmul sums each element in one fixed order per path, but switches from its Gemm to its
// Gemv path below kMatMulGemmRows (8) rows, and the merger of a slice of fewer than 8 merged tokens
// then sums in another order: such slices agree within rounding (checked with a tolerance).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "compute/cpu_backend.h"
#include "model/qwen2_5_vl.h"
#include "runtime/media_input.h"
#include "util/thread_pool.h"

namespace qwenvl {
namespace {

const std::string kDemo = QWENVL_DEMO_MODEL_DIR;

// Frames of 12 to 24 merged tokens: every matmul of a slice has 8 rows or more.
Media Sized(Media m, int64_t min_tokens = 12, int64_t max_tokens = 24) {
  m.min_pixels = 28 * 28 * min_tokens;
  m.max_pixels = 28 * 28 * max_tokens;
  return m;
}

Media Video(const std::string& name) {
  Media m;
  m.kind = Media::Kind::kVideo;
  m.path = std::string(QWENVL_TEST_DATA) + "/video/" + name;
  m.nframes = 6;
  return Sized(m);
}

Media FrameList() {
  Media m;
  m.kind = Media::Kind::kVideo;
  for (const char* f : {"frame0.png", "frame1.png", "frame2.png"}) {
    m.frame_paths.push_back(std::string(QWENVL_TEST_DATA) + "/video/" + f);
  }
  return Sized(m);
}

struct Difference {
  size_t count = 0;    // elements that differ
  float max = 0.0f;    // largest |difference|
  float scale = 0.0f;  // largest |value| of the clip's rows
};

// The streamed and the whole-clip encodings of m.
Difference Compare(const model::Model& model, ThreadPool& pool, const Media& m) {
  runtime::MediaSettings whole_settings;
  whole_settings.preprocessor = media::LoadPreprocessorConfig(kDemo);
  whole_settings.pool = &pool;
  runtime::MediaSettings stream_settings = whole_settings;
  stream_settings.video_encoder = &model.vision();
  const runtime::PreparedMedia whole = runtime::PrepareMedia(m, whole_settings);
  const runtime::PreparedMedia streamed = runtime::PrepareMedia(m, stream_settings);
  EXPECT_GE(whole.grid.t, 2);  // more than one slice
  EXPECT_EQ(streamed.grid.t, whole.grid.t);
  EXPECT_EQ(streamed.grid.h, whole.grid.h);
  EXPECT_EQ(streamed.grid.w, whole.grid.w);
  EXPECT_EQ(streamed.info.frame_indices, whole.info.frame_indices);
  EXPECT_EQ(streamed.info.tokens, whole.info.tokens);
  EXPECT_EQ(streamed.key, whole.key);
  EXPECT_TRUE(streamed.patches.values.empty());
  Difference d;
  if (streamed.features == nullptr) {
    ADD_FAILURE() << "no features";
    return d;
  }
  const model::GridThw grid = whole.grid;
  const std::vector<float> at_once =
      model.vision().Encode(whole.patches.values, std::span(&grid, 1));
  EXPECT_EQ(streamed.features->size(), at_once.size());
  if (streamed.features->size() != at_once.size()) return d;
  for (size_t i = 0; i < at_once.size(); ++i) {
    const float diff = std::fabs((*streamed.features)[i] - at_once[i]);
    d.count += diff != 0.0f;
    d.max = std::max(d.max, diff);
    d.scale = std::max(d.scale, std::fabs(at_once[i]));
  }
  return d;
}

TEST(VideoStreamEncode, SlicesEncodeAsTheWholeClip) {
  ThreadPool pool(2);
  compute::CpuBackend backend(pool);
  const model::Model model(kDemo, backend);
  for (const Media& m : {Video("bframes_gop12.mp4"), Video("testsrc-4s.mp4"), FrameList()}) {
    SCOPED_TRACE(m.path.empty() ? "frame list" : m.path);
    const Difference d = Compare(model, pool, m);
    EXPECT_GT(d.scale, 0.1f);
    EXPECT_EQ(d.count, 0u) << "max |difference| " << d.max;
  }
}

TEST(VideoStreamEncode, SmallSlicesAgreeWithinRounding) {
  ThreadPool pool(2);
  compute::CpuBackend backend(pool);
  const model::Model model(kDemo, backend);
  // Where the kernels round x to bf16 (bf16 dot products, AMX; chosen per CPU), both paths round
  // the merger's hidden activations to bf16 before its second product, and a float32 difference
  // of the first product can move one of them to the neighbouring bf16 value (2^-8 relative):
  // the rows then agree to bf16 rounding, not float32's.
  bool rounds_to_bf16 = false;
  for (const compute::KernelDecision& d : backend.kernel_choice().decisions()) {
    rounds_to_bf16 = rounds_to_bf16 || kernels::MatMulKernelRoundsToBf16(d.kernel);
  }
  const float tolerance = rounds_to_bf16 ? 2e-3f : 1e-5f;
  // 4 to 8 merged tokens a frame: the merger of a slice takes the Gemv path, the clip's the Gemm.
  for (const Media& m : {Sized(Video("bframes_gop12.mp4"), 4, 6), Sized(FrameList(), 4, 4)}) {
    SCOPED_TRACE(m.path.empty() ? "frame list" : m.path);
    const Difference d = Compare(model, pool, m);
    EXPECT_GT(d.scale, 0.1f);
    EXPECT_LE(d.max, tolerance * d.scale) << "scale " << d.scale << ", bf16 " << rounds_to_bf16;
  }
}

}  // namespace
}  // namespace qwenvl
