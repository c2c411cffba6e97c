#include "server/sse.h"

#include <gtest/gtest.h>

#include <limits>

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
  const json models = ModelsJson({"a", "org/b"}, "folder", 4096, 5);
  EXPECT_EQ(models["object"], "list");
  ASSERT_EQ(models["data"].size(), 2u);
  EXPECT_EQ(models["data"][1]["id"], "org/b");
  EXPECT_EQ(models["data"][1]["root"], "folder");
  EXPECT_EQ(models["data"][1]["max_model_len"], 4096);
  EXPECT_EQ(models["data"][1]["object"], "model");
}

TEST(OpenAiResponse, ChatLogprobsHaveOpenAiShape) {
  TokenLogprob t;
  t.token = 5;
  t.text = "\xc3";  // the first byte of "é": not whole UTF-8
  t.logprob = -0.5f;
  TokenLogprob alt;
  alt.text = "x";
  alt.logprob = -std::numeric_limits<float>::infinity();
  t.top = {alt};
  const json j = ChatLogprobsJson({t});
  EXPECT_TRUE(j["refusal"].is_null());
  ASSERT_EQ(j["content"].size(), 1u);
  const json& e = j["content"][0];
  EXPECT_EQ(e["token"], "\xef\xbf\xbd");  // U+FFFD: the bytes are exact in "bytes"
  EXPECT_EQ(e["bytes"], json({0xc3}));
  EXPECT_DOUBLE_EQ(e["logprob"].get<double>(), -0.5);
  EXPECT_EQ(e["top_logprobs"][0]["token"], "x");
  EXPECT_DOUBLE_EQ(e["top_logprobs"][0]["logprob"].get<double>(), -9999.0);
  EXPECT_FALSE(e["top_logprobs"][0].contains("top_logprobs"));
  EXPECT_EQ(ChatLogprobsJson({})["content"], json::array());
}

TEST(OpenAiResponse, SeveralChoicesEachCarryTheirExtra) {
  Result a, b;
  a.text = "one";
  b.text = "two";
  b.finish_reason = FinishReason::kLength;
  const json c = CompletionJson(kMeta, {&a, &b}, Usage{7, 5, 2}, false);
  ASSERT_EQ(c["choices"].size(), 2u);
  EXPECT_EQ(c["choices"][1]["index"], 1);
  EXPECT_EQ(c["choices"][1]["message"]["content"], "two");
  EXPECT_EQ(c["choices"][1]["finish_reason"], "length");
  EXPECT_TRUE(c["choices"][1]["logprobs"].is_null());
  EXPECT_TRUE(c["choices"][1]["qwenvl"].is_object());
  EXPECT_EQ(c["usage"]["prompt_tokens"], 7);
  EXPECT_EQ(c["usage"]["total_tokens"], 12);
  EXPECT_EQ(c["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
  const json chunk = ChunkJson(kMeta, {{"content", "x"}}, nullptr, nullptr, 3, json{{"k", 1}});
  EXPECT_EQ(chunk["choices"][0]["index"], 3);
  EXPECT_EQ(chunk["choices"][0]["logprobs"]["k"], 1);
  EXPECT_EQ(UsageChunkJson(kMeta, Usage{1, 2, 0}, "text_completion")["object"], "text_completion");
}

}  // namespace
}  // namespace qwenvl::server
