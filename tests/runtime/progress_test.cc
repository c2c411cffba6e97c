// Progress reports on the tiny random checkpoint: one per layer bound at load, one per vision
// encoder block over the media encoded now (none for a cached picture), one per prefill piece,
// each phase ending at done == total; the answer with progress is the answer without it (the
// synchronous prefill then goes in pieces); Submit reports the same phases.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "io/test_checkpoint.h"
#include "qwenvl/engine.h"

namespace qwenvl {
namespace {

namespace fs = std::filesystem;

class ProgressTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ =
        new fs::path(fs::temp_directory_path() / ("qwenvl_progress_" + std::to_string(getpid())));
    io::WriteTestModel(io::GetTestModelPreset("tiny"), dir_->string(),
                       QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct");
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static EngineOptions Options() {
    EngineOptions o;
    o.model_dir = dir_->string();
    o.threads = 2;
    o.context_length = 2048;
    o.prefill_chunk_tokens = 64;
    return o;
  }
  // A picture and a prompt long enough for several prefill pieces.
  static Request WithPicture() {
    Request r;
    Message user;
    user.role = "user";
    Media m;
    m.path = QWENVL_TEST_DATA "/video/frame0.png";
    m.max_pixels = 6272;  // a few dozen vision tokens: quick on the tiny model
    user.content.push_back({ContentPart::Type::kMedia, {}, m});
    std::string text;
    for (int i = 0; i < 120; ++i) text += "word" + std::to_string(i) + " ";
    user.content.push_back({ContentPart::Type::kText, text, {}});
    r.messages.push_back(std::move(user));
    r.sampling.temperature = 0.0f;
    r.sampling.max_new_tokens = 4;
    return r;
  }
  static fs::path* dir_;
};
fs::path* ProgressTest::dir_ = nullptr;

// Checks one phase's reports: done rises by the step to total, total fixed, time not going back.
void ExpectPhase(const std::vector<Progress>& all, Progress::Phase phase, int64_t total,
                 const char* unit) {
  std::vector<Progress> reports;
  for (const Progress& p : all)
    if (p.phase == phase) reports.push_back(p);
  ASSERT_FALSE(reports.empty()) << ProgressPhaseName(phase);
  int64_t done = 0;
  double elapsed = 0;
  for (const Progress& p : reports) {
    EXPECT_EQ(p.total, total) << ProgressPhaseName(phase);
    EXPECT_GT(p.done, done) << ProgressPhaseName(phase);
    EXPECT_GE(p.elapsed_ms, elapsed) << ProgressPhaseName(phase);
    EXPECT_STREQ(p.unit, unit);
    done = p.done;
    elapsed = p.elapsed_ms;
  }
  EXPECT_EQ(done, total) << ProgressPhaseName(phase);
}

TEST_F(ProgressTest, LoadVisionAndPrefillReportTheirPieces) {
  std::vector<Progress> load;
  auto engine = Engine::Load(Options(), [&](const Progress& p) { load.push_back(p); });
  const auto& config = engine->options();
  ASSERT_EQ(config.model_dir, dir_->string());
  ASSERT_FALSE(load.empty());
  // Every vision block and decoder layer, one by one.
  ExpectPhase(load, Progress::Phase::kLoad, load.back().total, "layers");
  EXPECT_EQ(static_cast<int64_t>(load.size()), load.back().total);

  const Request plain = WithPicture();
  const Result without = engine->Generate(plain);
  engine->ClearCaches();  // the picture is encoded again below
  std::vector<Progress> reports;
  Request watched = WithPicture();
  watched.on_progress = [&](const Progress& p) { reports.push_back(p); };
  const Result with = engine->Generate(watched);
  EXPECT_EQ(with.tokens, without.tokens);
  EXPECT_EQ(with.text, without.text);
  // The vision phase counts the encoder's blocks (at least one), then the prefill the prompt.
  int64_t blocks = 0;
  for (const Progress& p : reports)
    if (p.phase == Progress::Phase::kVision) blocks = p.total;
  ASSERT_GT(blocks, 0);
  ExpectPhase(reports, Progress::Phase::kVision, blocks, "blocks");
  ExpectPhase(reports, Progress::Phase::kPrefill, with.prompt_tokens, "tokens");
  // All the vision reports come before the prefill's, and the prefill went in pieces.
  size_t first_prefill = 0, prefill_reports = 0;
  for (size_t i = 0; i < reports.size(); ++i)
    if (reports[i].phase == Progress::Phase::kPrefill && prefill_reports++ == 0) first_prefill = i;
  EXPECT_EQ(first_prefill, static_cast<size_t>(blocks));
  EXPECT_GE(prefill_reports, 2u);

  // The picture is cached now: no vision reports, only the prefill.
  reports.clear();
  engine->Generate(watched);
  for (const Progress& p : reports) EXPECT_EQ(p.phase, Progress::Phase::kPrefill);
  EXPECT_FALSE(reports.empty());
}

TEST_F(ProgressTest, SubmittedRequestsReportOnTheSchedulerThread) {
  auto engine = Engine::Load(Options());
  const Result reference = engine->Generate(WithPicture());
  engine->ClearCaches();
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Progress> reports;
  bool text_seen = false, progress_after_text = false, done = false;
  std::optional<Result> result;
  Request r = WithPicture();
  r.on_progress = [&](const Progress& p) {
    std::lock_guard lock(mu);
    reports.push_back(p);
    if (text_seen) progress_after_text = true;
  };
  engine->Submit(
      std::move(r),
      [&](std::string_view) {
        std::lock_guard lock(mu);
        text_seen = true;
        return true;
      },
      [&](const Result* res, const Error* err) {
        std::lock_guard lock(mu);
        EXPECT_EQ(err, nullptr);
        if (res) result = *res;
        done = true;
        cv.notify_all();
      });
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done; }));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->tokens, reference.tokens);
  EXPECT_FALSE(progress_after_text);
  ASSERT_FALSE(reports.empty());
  ExpectPhase(reports, Progress::Phase::kPrefill, result->prompt_tokens, "tokens");
  int64_t blocks = 0;
  for (const Progress& p : reports)
    if (p.phase == Progress::Phase::kVision) blocks = p.total;
  ExpectPhase(reports, Progress::Phase::kVision, blocks, "blocks");
}

// A video is encoded while it is decoded, a temporal slice (two frames) at a time: its vision
// reports count frames, two at a time, up to the padded frame count.
TEST_F(ProgressTest, StreamedVideoReportsItsFrames) {
  auto engine = Engine::Load(Options());
  Request r;
  Message user;
  user.role = "user";
  Media m;
  m.kind = Media::Kind::kVideo;
  m.path = QWENVL_TEST_DATA "/video/testsrc-4s.mp4";
  m.fps = 2.0;
  m.min_pixels = 3136;  // a video's default floor (128 tokens a frame) is above this budget
  m.max_pixels = 6272;
  user.content.push_back({ContentPart::Type::kMedia, {}, m});
  user.content.push_back({ContentPart::Type::kText, "What happens?", {}});
  r.messages.push_back(std::move(user));
  r.sampling.temperature = 0.0f;
  r.sampling.max_new_tokens = 2;
  const Result without = engine->Generate(r);
  engine->ClearCaches();
  std::vector<Progress> reports;
  r.on_progress = [&](const Progress& p) { reports.push_back(p); };
  const Result with = engine->Generate(r);
  EXPECT_EQ(with.tokens, without.tokens);
  ASSERT_EQ(with.media.size(), 1u);
  const auto frames = static_cast<int64_t>(with.media[0].frame_indices.size() + 1) / 2 * 2;
  ASSERT_GE(frames, 4);
  ExpectPhase(reports, Progress::Phase::kVision, frames, "frames");
  for (const Progress& p : reports) {
    if (p.phase == Progress::Phase::kVision) {
      EXPECT_EQ(p.done % 2, 0);
    }
  }
}

// Request::cancel stops Engine::Generate and Session::Generate at the model's next step: an encoder
// block, a video slice, a prompt piece. The session then answers its next turn as a fresh engine
// answers the same conversation (a prompt cut short leaves no half-filled cache behind).
TEST_F(ProgressTest, CancelStopsBeforeTheAnswerAndTheSessionGoesOn) {
  auto engine = Engine::Load(Options());
  auto fresh = Engine::Load(Options());
  auto session = engine->NewSession();
  Request first = WithPicture();
  const Result r1 = session->Generate(first);
  ASSERT_EQ(r1.finish_reason, FinishReason::kLength);
  Request second = first;
  second.messages.push_back(Message::Text("assistant", r1.text));
  Message user;
  user.role = "user";
  Media picture;
  picture.path = QWENVL_TEST_DATA "/video/frame1.png";
  picture.max_pixels = 6272;
  user.content.push_back({ContentPart::Type::kMedia, {}, picture});
  std::string text;
  for (int i = 0; i < 100; ++i) text += "again" + std::to_string(i) + " ";
  user.content.push_back({ContentPart::Type::kText, text, {}});
  second.messages.push_back(std::move(user));

  for (const Progress::Phase phase : {Progress::Phase::kVision, Progress::Phase::kPrefill}) {
    SCOPED_TRACE(ProgressPhaseName(phase));
    engine->ClearCaches();  // the new picture is encoded again
    std::atomic<bool> stop{false};
    int reports_after_stop = 0;
    Request cancelled = second;
    cancelled.cancel = &stop;
    cancelled.on_progress = [&](const Progress& p) {
      if (stop) ++reports_after_stop;
      if (p.phase == phase) stop = true;
    };
    const Result r = session->Generate(cancelled, [](std::string_view) {
      ADD_FAILURE() << "text after the cancel";
      return true;
    });
    EXPECT_EQ(r.finish_reason, FinishReason::kCancelled);
    EXPECT_EQ(r.completion_tokens, 0);
    EXPECT_EQ(reports_after_stop, 0);
  }
  // A flag already set stops the request before any model work.
  std::atomic<bool> set{true};
  Request early = second;
  early.cancel = &set;
  EXPECT_EQ(session->Generate(early).finish_reason, FinishReason::kCancelled);

  const Result continued = session->Generate(second);
  const Result reference = fresh->Generate(second);
  EXPECT_EQ(continued.tokens, reference.tokens);
  EXPECT_EQ(continued.text, reference.text);
  // An unset flag changes nothing.
  std::atomic<bool> unset{false};
  Request watched = second;
  watched.cancel = &unset;
  EXPECT_EQ(fresh->Generate(watched).tokens, reference.tokens);
}

}  // namespace
}  // namespace qwenvl
