// The engine fits a request's media in the context before decoding them, on the tiny random
// checkpoint: the budgets a request leaves unset are lowered and reported, and the answer is the
// one a fresh engine gives when the request sets the lowered budgets itself.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "io/test_checkpoint.h"
#include "media/preprocessor_config.h"
#include "qwenvl/engine.h"
#include "util/error.h"

namespace qwenvl {
namespace {

namespace fs = std::filesystem;

const std::string kScreenshot = QWENVL_TEST_DATA "/preprocess/photos/computer_use2.jpeg";
// 20 minutes of FFmpeg's testsrc at 64x48, 1 frame a second (tests/data/video/README.md).
const std::string kLongVideo = QWENVL_TEST_DATA "/video/long-20min.mp4";

Request MediaRequest(const std::vector<Media>& media) {
  Request r;
  Message user;
  user.role = "user";
  for (const Media& m : media) user.content.push_back({ContentPart::Type::kMedia, {}, m});
  user.content.push_back({ContentPart::Type::kText, "What happens?", {}});
  r.messages.push_back(user);
  r.sampling.temperature = 0.0f;
  r.sampling.max_new_tokens = 4;
  return r;
}

Media FromFile(Media::Kind kind, const std::string& path) {
  Media m;
  m.kind = kind;
  m.path = path;
  return m;
}

class RequestBudgetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("qwenvl_request_budget_" + std::to_string(getpid())));
    fs::create_directories(*dir_);
    io::WriteTestModel(io::GetTestModelPreset("tiny"), dir_->string(),
                       QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct");
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::unique_ptr<Engine> Load(int64_t context) {
    EngineOptions o;
    o.model_dir = dir_->string();
    o.threads = 2;
    o.context_length = context;
    return Engine::Load(o);
  }
  static fs::path* dir_;
};
fs::path* RequestBudgetTest::dir_ = nullptr;

// The planned request's answer equals a fresh engine's answer to the request that sets the lowered
// budgets itself (nothing cached in common: the second engine prepares and encodes again).
void ExpectSameAsExplicit(const Result& planned, const Request& explicit_request,
                          std::unique_ptr<Engine> fresh) {
  const Result given = fresh->Generate(explicit_request);
  ASSERT_TRUE(given.plan.has_value());
  EXPECT_TRUE(given.plan->changes.empty());
  EXPECT_EQ(given.cached_media, 0);
  EXPECT_EQ(given.prompt_ids, planned.prompt_ids);
  EXPECT_EQ(given.tokens, planned.tokens);
  ASSERT_EQ(given.media.size(), planned.media.size());
  for (size_t i = 0; i < given.media.size(); ++i) {
    EXPECT_EQ(given.media[i].resized_width, planned.media[i].resized_width);
    EXPECT_EQ(given.media[i].resized_height, planned.media[i].resized_height);
    EXPECT_EQ(given.media[i].frame_indices, planned.media[i].frame_indices);
  }
}

TEST_F(RequestBudgetTest, AScreenshotIsLoweredToFitAndAnswered) {
  const std::unique_ptr<Engine> engine = Load(1024);
  const Request request = MediaRequest({FromFile(Media::Kind::kImage, kScreenshot)});
  const Result r = engine->Generate(request);
  ASSERT_TRUE(r.plan.has_value());
  ASSERT_EQ(r.plan->changes.size(), 1u);
  const BudgetChange& c = r.plan->changes[0];
  std::printf("%s\n", c.Describe().c_str());
  EXPECT_EQ(c.tokens_before, 4641);
  EXPECT_EQ(c.max_pixels_before, media::kDefaultMaxPixels);
  EXPECT_EQ(c.tokens_after, r.media[0].tokens);
  EXPECT_EQ(r.plan->media_tokens, r.media[0].tokens);
  EXPECT_EQ(r.plan->context_length, 1024);
  EXPECT_EQ(r.plan->reserve_tokens, 4);
  EXPECT_LE(r.prompt_tokens + 4, 1024);
  EXPECT_EQ(r.prompt_tokens, r.plan->text_tokens + r.plan->media_tokens);
  EXPECT_EQ(r.completion_tokens, 4);

  Request explicit_request = request;
  explicit_request.messages[0].content[0].media.max_pixels = c.max_pixels_after;
  ExpectSameAsExplicit(r, explicit_request, Load(1024));
}

TEST_F(RequestBudgetTest, ATwentyMinuteVideoIsLoweredToFitAndAnswered) {
  const std::unique_ptr<Engine> engine = Load(4096);
  const Request request = MediaRequest({FromFile(Media::Kind::kVideo, kLongVideo)});
  const Result r = engine->Generate(request);
  ASSERT_TRUE(r.plan.has_value());
  ASSERT_EQ(r.plan->changes.size(), 1u);
  const BudgetChange& c = r.plan->changes[0];
  std::printf("%s\n", c.Describe().c_str());
  // 768 frames of 280x392 (64x48 raised to min_pixels): 53760 tokens asked. Frames that small
  // are at their floor whatever total_pixels: only the frame count goes down.
  EXPECT_EQ(c.total_pixels_before, c.total_pixels_after);
  EXPECT_EQ(c.frames_before, 768);
  EXPECT_EQ(c.tokens_before, 53760);
  EXPECT_LT(c.frames_after, 768);
  EXPECT_EQ(static_cast<int64_t>(r.media[0].frame_indices.size()), c.frames_after);
  EXPECT_EQ(c.tokens_after, r.media[0].tokens);
  EXPECT_LE(r.prompt_tokens + r.plan->reserve_tokens, 4096);
  EXPECT_EQ(r.completion_tokens, 4);

  Request explicit_request = request;
  Media& m = explicit_request.messages[0].content[0].media;
  m.max_frames = c.frames_after;
  ExpectSameAsExplicit(r, explicit_request, Load(4096));
}

TEST_F(RequestBudgetTest, SubmittedRequestsCarryThePlan) {
  const std::unique_ptr<Engine> engine = Load(1024);
  std::promise<std::optional<RequestPlan>> done;
  engine->Submit(MediaRequest({FromFile(Media::Kind::kImage, kScreenshot)}), nullptr,
                 [&](const Result* r, const Error* e) {
                   EXPECT_EQ(e, nullptr) << e->what();
                   done.set_value(r ? r->plan : std::nullopt);
                 });
  const std::optional<RequestPlan> plan = done.get_future().get();
  ASSERT_TRUE(plan.has_value());
  ASSERT_EQ(plan->changes.size(), 1u);
  EXPECT_EQ(plan->changes[0].tokens_before, 4641);
}

TEST_F(RequestBudgetTest, ASetBudgetThatDoesNotFitIsRefusedNamingIt) {
  const std::unique_ptr<Engine> engine = Load(2048);
  Media screenshot = FromFile(Media::Kind::kImage, kScreenshot);
  screenshot.max_pixels = media::kDefaultMaxPixels;
  try {
    engine->Generate(MediaRequest({screenshot}));
    ADD_FAILURE() << "not refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
    EXPECT_EQ(e.field(), "media[0].max_pixels");
  }
  // A text request has no plan.
  Request text;
  text.messages.push_back(Message::Text("user", "Hello"));
  text.sampling.max_new_tokens = 1;
  EXPECT_FALSE(engine->Generate(text).plan.has_value());
}

TEST_F(RequestBudgetTest, TheDefaultContextIs32768WithinTheModelsPositions) {
  EXPECT_EQ(Load(0)->options().context_length, 32768);
  EXPECT_EQ(Load(128000)->options().context_length, 128000);  // grows as used: nothing held
  EXPECT_THROW(Load(128001), Error);
}

}  // namespace
}  // namespace qwenvl
