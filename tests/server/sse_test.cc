#include "server/sse.h"

#include <gtest/gtest.h>

namespace qwenvl::server {
namespace {

using nlohmann::json;

const CompletionMeta kMeta{"chatcmpl-1", 1700000000, "m"};

TEST(Sse, FramesEventsAndDone) {
  EXPECT_EQ(SseEvent(json{{"a", "x\ny"}}), "data: {\"a\":\"x\\ny\"}\n\n");
  EXPECT_EQ(SseDone(), "data: [DONE]\n\n");
  // Invalid UTF-8 never breaks the stream.
  EXPECT_NO_THROW(SseEvent(json{{"a", std::string("\xff")}}));
}

TEST(Sse, ChunkHasTheOpenAiShape) {
  const json c = ChunkJson(kMeta, {{"content", "Hi"}}, nullptr);
  EXPECT_EQ(c.dump(),
            "{\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null,\"index\":0,"
            "\"logprobs\":null}],\"created\":1700000000,\"id\":\"chatcmpl-1\",\"model\":\"m\","
            "\"object\":\"chat.completion.chunk\"}");
  const json last = ChunkJson(kMeta, json::object(), "length", json{{"grounding", json::array()}});
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(last["choices"][0]["delta"].empty());
  EXPECT_TRUE(last["qwenvl"]["grounding"].is_array());
}

TEST(Sse, UsageChunkHasEmptyChoices) {
  Result r;
  r.prompt_tokens = 7;
  r.completion_tokens = 3;
  const json u = UsageChunkJson(kMeta, r);
  EXPECT_TRUE(u["choices"].empty());
  EXPECT_EQ(u["usage"]["total_tokens"], 10);
  EXPECT_EQ(u["object"], "chat.completion.chunk");
}

TEST(OpenAiResponse, CompletionCarriesGroundingInBothFrames) {
  Result r;
  r.text = "```json\n[{\"bbox_2d\": [10, 20, 30, 40], \"label\": \"cat\"}]\n```";
  r.completion_tokens = 5;
  r.finish_reason = FinishReason::kLength;
  MediaInfo m;
  m.original_width = 200;
  m.original_height = 100;
  m.resized_width = 100;
  m.resized_height = 50;
  m.tokens = 6;
  r.media.push_back(m);
  const json c = CompletionJson(kMeta, r);
  EXPECT_EQ(c["object"], "chat.completion");
  EXPECT_EQ(c["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(c["choices"][0]["finish_reason"], "length");
  const json& g = c["qwenvl"]["grounding"][0];
  EXPECT_EQ(g["type"], "box");
  EXPECT_EQ(g["label"], "cat");
  EXPECT_EQ(g["media_index"], 0);
  EXPECT_EQ(g["bbox_2d"], json({20.0, 40.0, 60.0, 80.0}));
  EXPECT_EQ(g["bbox_2d_resized"], json({10.0, 20.0, 30.0, 40.0}));
  EXPECT_EQ(c["qwenvl"]["media"][0]["resized_width"], 100);
  EXPECT_EQ(ModelsJson("m", 5)["data"][0]["id"], "m");
}

}  // namespace
}  // namespace qwenvl::server
