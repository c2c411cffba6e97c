// The request planner as a pure function: sizes from headers, the request's budgets and the
// context in, the lowered budgets and the plan out; and the default context length.
#include "runtime/request_plan.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "media/preprocessor_config.h"
#include "media/video_sampling.h"
#include "runtime/context_length.h"
#include "util/error.h"

namespace qwenvl::runtime {
namespace {

const media::PreprocessorConfig kConfig;  // the published values (3136 ... 12845056 pixels)

MediaProbe ImageProbe(int64_t width, int64_t height) {
  return {.kind = Media::Kind::kImage, .width = width, .height = height};
}

// 20 minutes at 30 fps.
MediaProbe VideoProbe(int64_t width = 640, int64_t height = 360, int64_t frames = 36000,
                      double fps = 30.0) {
  return {.kind = Media::Kind::kVideo,
          .width = width,
          .height = height,
          .total_frames = frames,
          .video_fps = fps};
}

MediaProbe FrameListProbe(int64_t width, int64_t height, int64_t frames) {
  return {.kind = Media::Kind::kVideo,
          .frame_list = true,
          .width = width,
          .height = height,
          .total_frames = frames};
}

Media Kind(Media::Kind kind) {
  Media m;
  m.kind = kind;
  return m;
}

struct Case {
  std::vector<Media> media;
  std::vector<MediaProbe> probes;
  PlannedMedia Plan(int64_t text, int64_t reserve, int64_t context) const {
    std::vector<const Media*> pointers;
    for (const Media& m : media) pointers.push_back(&m);
    return PlanRequestMedia(pointers, probes, text, reserve, context, kConfig);
  }
  void Add(const Media& m, const MediaProbe& p) {
    media.push_back(m);
    probes.push_back(p);
  }
};

// The Error a plan ends with (an ADD_FAILURE when it succeeds).
Error PlanError(const Case& c, int64_t text, int64_t reserve, int64_t context) {
  try {
    c.Plan(text, reserve, context);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "the plan was not refused";
  return Error(ErrorCode::kInternal, "");
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Each planned item is what the processor makes of the item given the planned settings
// explicitly, and the tokens add up to what fits.
void ExpectConsistent(const Case& c, const PlannedMedia& p, int64_t text, int64_t reserve,
                      int64_t context) {
  ASSERT_EQ(p.items.size(), c.media.size());
  int64_t sum = 0;
  for (size_t i = 0; i < c.media.size(); ++i) {
    const MediaPlan explicit_plan = PlanFromProbe(c.probes[i], p.settings[i], kConfig);
    EXPECT_EQ(explicit_plan.tokens, p.items[i].tokens) << i;
    EXPECT_EQ(explicit_plan.frames, p.items[i].frames) << i;
    EXPECT_EQ(explicit_plan.resized_width, p.items[i].resized_width) << i;
    EXPECT_EQ(explicit_plan.resized_height, p.items[i].resized_height) << i;
    sum += p.items[i].tokens;
  }
  EXPECT_EQ(sum, p.plan.media_tokens);
  EXPECT_LE(text + reserve + sum, context);
}

TEST(RequestPlan, AFittingRequestIsLeftAlone) {
  Case c;
  c.Add(Kind(Media::Kind::kImage), ImageProbe(640, 480));
  c.Add(Kind(Media::Kind::kVideo), VideoProbe(320, 240, 120, 30.0));
  const PlannedMedia p = c.Plan(40, 512, 32768);
  EXPECT_TRUE(p.plan.changes.empty());
  EXPECT_EQ(p.plan.media_tokens, p.plan.media_tokens_requested);
  EXPECT_FALSE(p.settings[0].max_pixels.has_value());
  EXPECT_FALSE(p.settings[1].total_pixels.has_value());
  EXPECT_FALSE(p.settings[1].max_frames.has_value());
  ExpectConsistent(c, p, 40, 512, 32768);
}

TEST(RequestPlan, ATwentyMinuteVideoIsFittedByTotalPixelsThenFrames) {
  Case c;
  c.Add(Kind(Media::Kind::kVideo), VideoProbe());
  const int64_t text = 30, reserve = 512, context = 32768;
  const PlannedMedia p = c.Plan(text, reserve, context);
  // 768 frames of 640x360 at the default total of 90316800 pixels.
  EXPECT_EQ(p.plan.media_tokens_requested, PlanFromProbe(c.probes[0], c.media[0], kConfig).tokens);
  EXPECT_GT(p.plan.media_tokens_requested, 100000);
  ASSERT_EQ(p.plan.changes.size(), 1u);
  const BudgetChange& change = p.plan.changes[0];
  std::printf("%s\n", change.Describe().c_str());
  EXPECT_EQ(change.kind, Media::Kind::kVideo);
  EXPECT_EQ(change.total_pixels_before, media::kVideoTotalPixels);
  EXPECT_LT(change.total_pixels_after, change.total_pixels_before);
  // At the per-frame floor 768 frames are still too many: the frames went down, in pairs.
  EXPECT_EQ(change.frames_before, 768);
  EXPECT_LT(change.frames_after, 768);
  EXPECT_EQ(change.frames_after % media::kFrameFactor, 0);
  EXPECT_EQ(p.settings[0].max_frames, change.frames_after);
  EXPECT_EQ(p.settings[0].total_pixels, change.total_pixels_after);
  EXPECT_EQ(p.items[0].frames, change.frames_after);
  EXPECT_EQ(change.tokens_after, p.plan.media_tokens);
  ExpectConsistent(c, p, text, reserve, context);
  // Nothing larger would fit: two more frames at the floor, or the next whole token of pixels.
  const int64_t room = context - text - reserve;
  Media more_frames = p.settings[0];
  more_frames.max_frames = change.frames_after + 2;
  more_frames.total_pixels = (change.frames_after + 2) / 2 * (100352 * 105 / 100);
  EXPECT_GT(PlanFromProbe(c.probes[0], more_frames, kConfig).tokens, room);
  Media more_pixels = p.settings[0];
  *more_pixels.total_pixels += 28 * 28;
  EXPECT_GT(PlanFromProbe(c.probes[0], more_pixels, kConfig).tokens, room);
}

TEST(RequestPlan, AVideoWithinReachOfTotalPixelsKeepsItsFrames) {
  Case c;
  c.Add(Kind(Media::Kind::kVideo), VideoProbe(640, 360, 3600, 30.0));  // 2 minutes: 240 frames
  const PlannedMedia p = c.Plan(30, 512, 32768);
  ASSERT_EQ(p.plan.changes.size(), 1u);
  EXPECT_EQ(p.plan.changes[0].frames_before, p.plan.changes[0].frames_after);
  EXPECT_FALSE(p.settings[0].max_frames.has_value());
  EXPECT_EQ(p.items[0].frames, 240);
  EXPECT_EQ(*p.settings[0].total_pixels % (28 * 28), 0);
  ExpectConsistent(c, p, 30, 512, 32768);
}

TEST(RequestPlan, ALargeScreenshotIsLoweredInWholeTokens) {
  Case c;
  c.Add(Kind(Media::Kind::kImage), ImageProbe(2560, 1440));
  const PlannedMedia p = c.Plan(20, 512, 2048);
  ASSERT_EQ(p.plan.changes.size(), 1u);
  EXPECT_EQ(p.plan.changes[0].max_pixels_before, kConfig.max_pixels);
  EXPECT_EQ(*p.settings[0].max_pixels % (28 * 28), 0);
  EXPECT_EQ(p.plan.changes[0].tokens_before, 4641);
  ExpectConsistent(c, p, 20, 512, 2048);
  Media larger = p.settings[0];
  *larger.max_pixels += 28 * 28;
  EXPECT_GT(PlanFromProbe(c.probes[0], larger, kConfig).tokens, 2048 - 20 - 512);
}

TEST(RequestPlan, AFrameListIsLoweredByMaxPixelsOnly) {
  Case c;
  c.Add(Kind(Media::Kind::kVideo), FrameListProbe(1920, 1080, 40));
  const PlannedMedia p = c.Plan(20, 100, 4096);
  ASSERT_EQ(p.plan.changes.size(), 1u);
  EXPECT_EQ(p.plan.changes[0].max_pixels_before, media::kDefaultMaxPixels);
  EXPECT_EQ(p.plan.changes[0].frames_before, p.plan.changes[0].frames_after);
  EXPECT_EQ(p.items[0].frames, 40);
  ExpectConsistent(c, p, 20, 100, 4096);
}

TEST(RequestPlan, SeveralItemsShareTheRoomByWhatTheyAskedAndStayDeterministic) {
  Case c;
  c.Add(Kind(Media::Kind::kImage), ImageProbe(2560, 1440));
  c.Add(Kind(Media::Kind::kImage), ImageProbe(300, 200));  // 77 tokens
  c.Add(Kind(Media::Kind::kVideo), VideoProbe(1920, 1080, 18000, 30.0));
  c.Add(Kind(Media::Kind::kImage), ImageProbe(1000, 4000));
  const PlannedMedia p = c.Plan(100, 1000, 16384);
  ExpectConsistent(c, p, 100, 1000, 16384);
  EXPECT_GE(p.plan.changes.size(), 3u);
  for (const BudgetChange& change : p.plan.changes) {
    EXPECT_LT(change.tokens_after, change.tokens_before);
    EXPECT_EQ(change.kind, c.probes[change.media].kind);
  }
  const PlannedMedia again = c.Plan(100, 1000, 16384);
  ASSERT_EQ(again.plan.changes.size(), p.plan.changes.size());
  for (size_t i = 0; i < p.plan.changes.size(); ++i) {
    EXPECT_EQ(again.plan.changes[i].Describe(), p.plan.changes[i].Describe());
  }
  // The rounding to each processor's steps leaves little of the room unused.
  EXPECT_GT(p.plan.media_tokens, (16384 - 1100) * 9 / 10);
}

TEST(RequestPlan, PinnedBudgetsAreKeptOrNamedInTheRefusal) {
  // A picture whose max_pixels is set is not lowered: the refusal names it.
  Case image;
  Media pinned = Kind(Media::Kind::kImage);
  pinned.max_pixels = 12845056;
  image.Add(pinned, ImageProbe(2560, 1440));
  const Error e = PlanError(image, 20, 512, 2048);
  EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(e.field(), "media[0].max_pixels");
  EXPECT_TRUE(Contains(e.what(), "image 1 is set to max_pixels 12845056")) << e.what();
  EXPECT_TRUE(Contains(e.what(), "the context holds 2048 tokens")) << e.what();

  // fps pins the frame count: only total_pixels goes down, and it is enough.
  Case fps;
  Media by_fps = Kind(Media::Kind::kVideo);
  by_fps.fps = 0.5;  // 600 frames of 20 minutes
  fps.Add(by_fps, VideoProbe());
  const PlannedMedia p = fps.Plan(30, 512, 65536);
  ASSERT_EQ(p.plan.changes.size(), 1u);
  EXPECT_EQ(p.plan.changes[0].frames_before, p.plan.changes[0].frames_after);
  EXPECT_EQ(p.items[0].frames, 600);
  EXPECT_FALSE(p.settings[0].max_frames.has_value());
  ExpectConsistent(fps, p, 30, 512, 65536);
  // ... and not enough in a small context: the refusal names fps.
  const Error small = PlanError(fps, 30, 512, 16384);
  EXPECT_EQ(small.field(), "media[0].fps");
  EXPECT_TRUE(Contains(small.what(), "fps 0.5")) << small.what();

  // total_pixels set: the frames go down instead (its per-frame share grows, within its bound).
  Case total;
  Media by_total = Kind(Media::Kind::kVideo);
  by_total.total_pixels = 20000000;
  total.Add(by_total, VideoProbe());
  const PlannedMedia t = total.Plan(30, 512, 16384);
  ASSERT_EQ(t.plan.changes.size(), 1u);
  EXPECT_EQ(t.settings[0].total_pixels, 20000000);
  EXPECT_LT(t.items[0].frames, 768);
  ExpectConsistent(total, t, 30, 512, 16384);

  // Both set: nothing to lower.
  Media both = by_total;
  both.max_frames = 768;
  Case pinned_video;
  pinned_video.Add(both, VideoProbe());
  const Error b = PlanError(pinned_video, 30, 512, 16384);
  EXPECT_EQ(b.field(), "media[0].total_pixels");
  EXPECT_TRUE(Contains(b.what(), "max_frames 768")) << b.what();

  // The blame goes to the item taking the most tokens; an unset item beside it is lowered first.
  Case mixed;
  mixed.Add(Kind(Media::Kind::kImage), ImageProbe(2560, 1440));
  mixed.Add(both, VideoProbe());
  EXPECT_EQ(PlanError(mixed, 30, 512, 16384).field(), "media[1].total_pixels");
}

TEST(RequestPlan, ContradictoryOrOutOfRangeSettingsAreInvalid) {
  const auto code_of = [](Media m, const MediaProbe& probe) {
    Case c;
    c.Add(m, probe);
    try {
      c.Plan(10, 10, 32768);
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::kInternal;
  };
  Media image = Kind(Media::Kind::kImage);
  image.max_pixels = 0;
  EXPECT_EQ(code_of(image, ImageProbe(640, 480)), ErrorCode::kInvalidArgument);
  image.max_pixels = -5;
  EXPECT_EQ(code_of(image, ImageProbe(640, 480)), ErrorCode::kInvalidArgument);
  image.max_pixels = 1000;
  image.min_pixels = 5000;  // min above max
  EXPECT_EQ(code_of(image, ImageProbe(640, 480)), ErrorCode::kInvalidArgument);
  Media video = Kind(Media::Kind::kVideo);
  video.total_pixels = 0;
  EXPECT_EQ(code_of(video, VideoProbe()), ErrorCode::kInvalidArgument);
  video.total_pixels.reset();
  video.max_frames = 0;
  EXPECT_EQ(code_of(video, VideoProbe()), ErrorCode::kInvalidArgument);
  video.max_frames.reset();
  video.fps = -1.0;
  EXPECT_EQ(code_of(video, VideoProbe()), ErrorCode::kInvalidArgument);
  // A video with one frame, or no frame rate in fps mode.
  EXPECT_EQ(code_of(Kind(Media::Kind::kVideo), VideoProbe(640, 360, 1, 30.0)),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(Kind(Media::Kind::kVideo), VideoProbe(640, 360, 100, 0.0)),
            ErrorCode::kInvalidArgument);
  // An aspect ratio above 200.
  EXPECT_EQ(code_of(Kind(Media::Kind::kImage), ImageProbe(30000, 100)),
            ErrorCode::kInvalidArgument);

  Case c;
  c.Add(Kind(Media::Kind::kImage), ImageProbe(640, 480));
  EXPECT_EQ(PlanError(c, 10, 10, 0).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(PlanError(c, -1, 10, 4096).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(PlanError(c, 10, -1, 4096).code(), ErrorCode::kInvalidArgument);
}

TEST(RequestPlan, AContextSmallerThanTheTextIsRefusedWithoutBlame) {
  Case c;
  c.Add(Kind(Media::Kind::kImage), ImageProbe(640, 480));
  const Error e = PlanError(c, 5000, 512, 4096);
  EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(e.field(), "");
  EXPECT_TRUE(Contains(e.what(), "and the text 5000 more")) << e.what();
  EXPECT_TRUE(Contains(e.what(), "smallest budget")) << e.what();
}

TEST(RequestPlan, HugeMediaCountsArePlannedOrRefusedQuickly) {
  // 5000 pictures of 1000 tokens: each can go down to 2 tokens (28x56 under 3136 pixels).
  Case many;
  for (int i = 0; i < 5000; ++i) many.Add(Kind(Media::Kind::kImage), ImageProbe(1120, 700));
  const PlannedMedia p = many.Plan(10000, 512, 32768);
  EXPECT_EQ(p.plan.changes.size(), 5000u);
  ExpectConsistent(many, p, 10000, 512, 32768);
  // 20000 do not fit even at 2 tokens each: refused, the message bounded.
  Case too_many;
  for (int i = 0; i < 20000; ++i) too_many.Add(Kind(Media::Kind::kImage), ImageProbe(1120, 700));
  const Error e = PlanError(too_many, 100, 512, 32768);
  EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
  EXPECT_TRUE(Contains(e.what(), "and 19992 more")) << e.what();
  EXPECT_LT(std::string(e.what()).size(), 2000u);
}

TEST(RequestPlan, DescribeSaysWhatChanged) {
  BudgetChange c;
  c.kind = Media::Kind::kVideo;
  c.kind_number = 1;
  c.tokens_before = 114840;
  c.tokens_after = 15800;
  c.total_pixels_before = 90316800;
  c.total_pixels_after = 12000000;
  c.frames_before = 768;
  c.frames_after = 96;
  EXPECT_EQ(c.Describe(),
            "video 1 reduced from 114840 to 15800 tokens (total_pixels 90316800 -> 12000000, "
            "768 -> 96 frames)");
  const nlohmann::ordered_json j = RequestPlanJson({.context_length = 32768, .changes = {c}});
  EXPECT_EQ(j["changes"][0]["frames"]["after"], 96);
  EXPECT_EQ(j["changes"][0]["total_pixels"]["before"], 90316800);
  EXPECT_FALSE(j["changes"][0].contains("max_pixels"));
}

TEST(RequestPlan, TheAnswerReserveIsMaxTokensWithinAQuarterOfTheContext) {
  EXPECT_EQ(AnswerReserve(512, 32768), 512);
  EXPECT_EQ(AnswerReserve(100000, 32768), 8192);
  EXPECT_EQ(AnswerReserve(0, 32768), 1);
  EXPECT_EQ(AnswerReserve(-7, 32768), 1);
  EXPECT_EQ(AnswerReserve(512, 16), 4);
}

io::TextConfig Text3b() {
  io::TextConfig t;
  t.hidden_size = 2048;
  t.num_attention_heads = 16;
  t.num_hidden_layers = 36;
  t.num_key_value_heads = 2;
  t.max_position_embeddings = 128000;
  return t;
}

TEST(ContextLength, DefaultsTo32768WhereTheModelAndMemoryAllow) {
  const io::TextConfig t = Text3b();
  // 36 layers x 2 (keys, values) x 2 heads x 128 x 4 bytes: 2.25 GiB at 32768 tokens.
  EXPECT_EQ(KvCacheBytesPerToken(t), 73728);
  constexpr int64_t kGiB = int64_t{1} << 30;
  EXPECT_EQ(ResolveContextLength(0, t, 24 * kGiB), 32768);
  EXPECT_EQ(ResolveContextLength(0, t, -1), 32768);  // memory unknown: not checked
  EXPECT_EQ(ResolveContextLength(0, t, 4 * kGiB), 8192);
  // The default cache is bf16: half the bytes, twice the length on the same memory.
  EXPECT_EQ(KvCacheBytesPerToken(t, KvType::kBf16), 36864);
  EXPECT_EQ(ResolveContextLength(0, t, 4 * kGiB, KvType::kBf16), 16384);
  EXPECT_EQ(ResolveContextLength(0, t, kGiB / 64), 4096);  // never below 4096 by default
  io::TextConfig short_model = t;
  short_model.max_position_embeddings = 8192;
  EXPECT_EQ(ResolveContextLength(0, short_model, 24 * kGiB), 8192);
  short_model.max_position_embeddings = 1000;
  EXPECT_EQ(ResolveContextLength(0, short_model, kGiB / 64), 1000);
  // Asked for: kept within the model's positions, refused beyond or below 16.
  EXPECT_EQ(ResolveContextLength(128000, t, kGiB), 128000);
  EXPECT_THROW(ResolveContextLength(128001, t, 24 * kGiB), Error);
  EXPECT_THROW(ResolveContextLength(15, t, 24 * kGiB), Error);
  EXPECT_THROW(ResolveContextLength(-1, t, 24 * kGiB), Error);
}

}  // namespace
}  // namespace qwenvl::runtime
