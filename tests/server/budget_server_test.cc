// The request plan in the server's answers: the budgets the engine lowered in the `qwenvl` object,
// and a refusal about a budget the client set as a 400 naming the client's own JSON field.
#include <gtest/gtest.h>

#include <string>

#include "server_fixture.h"

namespace qwenvl::server::testing {
namespace {

using json = nlohmann::json;

json VideoChat(const json& part, bool stream = false) {
  return {
      {"model", "fake-model"},
      {"stream", stream},
      {"messages",
       {{{"role", "user"}, {"content", {part, {{"type", "text"}, {"text", "What happens?"}}}}}}}};
}

const char* kVideoUrl = "data:video/mp4;base64,AAEC";

TEST_F(ServerTest, TheLoweredBudgetsAreInTheAnswer) {
  BudgetChange change;
  change.kind = Media::Kind::kVideo;
  change.tokens_before = 53760;
  change.tokens_after = 3640;
  change.total_pixels_before = 90316800;
  change.total_pixels_after = 2739594;
  change.frames_before = 768;
  change.frames_after = 52;
  engine_.script.plan = RequestPlan{.context_length = 4096,
                                    .text_tokens = 20,
                                    .reserve_tokens = 16,
                                    .media_tokens_requested = 53760,
                                    .media_tokens = 3640,
                                    .changes = {change}};
  StartServer();
  const auto res = Chat(VideoChat({{"type", "video_url"}, {"video_url", {{"url", kVideoUrl}}}}));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json plan = json::parse(res->body)["qwenvl"]["plan"];
  EXPECT_EQ(plan["context_length"], 4096);
  EXPECT_EQ(plan["media_tokens_requested"], 53760);
  ASSERT_EQ(plan["changes"].size(), 1u);
  EXPECT_EQ(plan["changes"][0]["frames"], json({{"before", 768}, {"after", 52}}));
  EXPECT_EQ(plan["changes"][0]["total_pixels"]["after"], 2739594);
  EXPECT_EQ(plan["changes"][0]["description"], change.Describe());
  // A text request has none.
  engine_.script.plan.reset();
  const auto text = Chat(Simple());
  ASSERT_TRUE(text);
  EXPECT_FALSE(json::parse(text->body)["qwenvl"].contains("plan"));
}

TEST_F(ServerTest, ARefusedBudgetNamesTheClientsField) {
  StartServer();
  struct Case {
    json part;
    std::string field;  // the engine's
    std::string param;  // the answer's
  };
  const Case cases[] = {
      {{{"type", "video_url"}, {"video_url", {{"url", kVideoUrl}, {"total_pixels", 90316800}}}},
       "media[0].total_pixels",
       "messages[0].content[0].video_url.total_pixels"},
      {{{"type", "video_url"}, {"video_url", {{"url", kVideoUrl}}}, {"max_frames", 768}},
       "media[0].max_frames",
       "messages[0].content[0].max_frames"},
      // A field the request did not set, or an item it does not have: the input as a whole.
      {{{"type", "video_url"}, {"video_url", {{"url", kVideoUrl}}}}, "media[0].fps", "messages"},
      {{{"type", "video_url"}, {"video_url", {{"url", kVideoUrl}}}, {"fps", 2.0}},
       "media[7].fps",
       "messages"},
      {{{"type", "video_url"}, {"video_url", {{"url", kVideoUrl}}}, {"fps", 2.0}},
       "media[x].fps",
       "messages"},
  };
  for (const Case& c : cases) {
    engine_.script.error = Error(ErrorCode::kOutOfRange, "does not fit", c.field);
    for (const bool stream : {false, true}) {
      const auto res = Chat(VideoChat(c.part, stream));
      ASSERT_TRUE(res);
      EXPECT_EQ(res->status, 400) << res->body;
      const json error = json::parse(res->body)["error"];
      EXPECT_EQ(error["param"], c.param) << c.field;
      EXPECT_EQ(error["code"], "context_length_exceeded");
    }
  }
}

}  // namespace
}  // namespace qwenvl::server::testing
