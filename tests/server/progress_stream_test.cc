// Progress of the vision encoding and the prefill in a streamed chat answer: SSE comments before
// the first text (which OpenAI's clients skip), at most a few a second, none after the text began,
// none in non-streamed answers, in ollama's streams, or in text completions' streams.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/sse.h"
#include "server_fixture.h"

namespace qwenvl::server::testing {
namespace {

using nlohmann::json;

Progress Report(Progress::Phase phase, int64_t done, int64_t total, double elapsed_ms) {
  return Progress{.phase = phase,
                  .done = done,
                  .total = total,
                  .unit = phase == Progress::Phase::kVision ? "blocks" : "tokens",
                  .elapsed_ms = elapsed_ms};
}

TEST(SseProgress, CommentHasTheDocumentedShape) {
  EXPECT_EQ(SseProgressComment(Report(Progress::Phase::kVision, 3, 8, 1234.7)),
            ": progress {\"phase\":\"vision\",\"done\":3,\"total\":8,\"elapsed_ms\":1234,"
            "\"eta_ms\":2057}\n\n");
  // No estimate before the first piece, nothing left after the last.
  EXPECT_EQ(SseProgressComment(Report(Progress::Phase::kPrefill, 0, 100, 5)),
            ": progress {\"phase\":\"prefill\",\"done\":0,\"total\":100,\"elapsed_ms\":5,"
            "\"eta_ms\":0}\n\n");
  EXPECT_EQ(SseProgressComment(Report(Progress::Phase::kPrefill, 100, 100, 900)),
            ": progress {\"phase\":\"prefill\",\"done\":100,\"total\":100,\"elapsed_ms\":900,"
            "\"eta_ms\":0}\n\n");
}

// The blocks of an SSE body: ("comment", text after ": ") or ("data", payload).
struct Block {
  bool comment = false;
  std::string text;
};
std::vector<Block> Blocks(const std::string& body) {
  std::vector<Block> out;
  size_t pos = 0, end;
  while ((end = body.find("\n\n", pos)) != std::string::npos) {
    const std::string b = body.substr(pos, end - pos);
    pos = end + 2;
    if (b.rfind(": ", 0) == 0) {
      out.push_back({true, b.substr(2)});
    } else {
      EXPECT_EQ(b.rfind("data: ", 0), 0u) << b;
      out.push_back({false, b.substr(6)});
    }
  }
  EXPECT_EQ(pos, body.size());
  return out;
}

class ProgressStreamTest : public ServerTest {
 protected:
  void SetUp() override {
    // Twelve vision blocks then two prefill pieces, 30 ms apart: 420 ms, more than the 250 ms
    // between two reports.
    for (int i = 1; i <= 12; ++i)
      engine_.script.progress.push_back(Report(Progress::Phase::kVision, i, 12, 30.0 * i));
    engine_.script.progress.push_back(Report(Progress::Phase::kPrefill, 128, 200, 40));
    engine_.script.progress.push_back(Report(Progress::Phase::kPrefill, 200, 200, 70));
    engine_.script.progress_delay_ms = 30;
    StartServer();
  }
  static json WithPicture(bool stream) {
    return {{"model", "fake-model"},
            {"stream", stream},
            {"messages",
             {{{"role", "user"},
               {"content",
                {{{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,AAEC"}}}},
                 {{"type", "text"}, {"text", "What is it?"}}}}}}}};
  }
};

TEST_F(ProgressStreamTest, StreamedChatReportsProgressBeforeTheFirstText) {
  const auto reply = Chat(WithPicture(true));
  ASSERT_TRUE(reply);
  ASSERT_EQ(reply->status, 200) << reply->body;
  const std::vector<Block> blocks = Blocks(reply->body);
  size_t first_content = blocks.size(), comments = 0, last_comment = 0;
  std::string text;
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (blocks[i].comment) {
      ++comments;
      last_comment = i;
      ASSERT_EQ(blocks[i].text.rfind("progress ", 0), 0u) << blocks[i].text;
      const json p = json::parse(blocks[i].text.substr(9));
      EXPECT_TRUE(p["phase"] == "vision" || p["phase"] == "prefill") << p;
      EXPECT_LE(p["done"].get<int64_t>(), p["total"].get<int64_t>());
      EXPECT_GE(p["eta_ms"].get<int64_t>(), 0);
      continue;
    }
    if (blocks[i].text == "[DONE]") continue;
    const json chunk = json::parse(blocks[i].text);
    if (!chunk["choices"].empty() && chunk["choices"][0]["delta"].value("content", "") != "") {
      if (first_content == blocks.size()) first_content = i;
      text += chunk["choices"][0]["delta"]["content"].get<std::string>();
    }
  }
  ASSERT_GE(comments, 1u) << reply->body;
  EXPECT_LT(last_comment, first_content) << reply->body;  // none after the text began
  // 14 reports over about 420 ms, sent at most every 250 ms.
  EXPECT_LE(comments, 3u) << reply->body;
  // The answer itself is what a stream without progress carries.
  EXPECT_EQ(text, "Hello, world!");
}

TEST_F(ProgressStreamTest, NoProgressInWholeAnswersOllamaStreamsOrTextCompletions) {
  const auto whole = Chat(WithPicture(false));
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->status, 200);
  EXPECT_EQ(json::parse(whole->body)["choices"][0]["message"]["content"], "Hello, world!");

  const json ollama = {{"model", "fake-model"},
                       {"stream", true},
                       {"messages", {{{"role", "user"}, {"content", "hi"}, {"images", {"AAEC"}}}}}};
  const auto nd = Fetch(port_, "POST", "/api/chat", ollama.dump());
  ASSERT_TRUE(nd);
  EXPECT_EQ(nd->status, 200) << nd->body;
  EXPECT_EQ(nd->body.find("progress"), std::string::npos) << nd->body;

  const json completion = {{"model", "fake-model"}, {"prompt", "Q"}, {"stream", true}};
  const auto text = Fetch(port_, "POST", "/v1/completions", completion.dump());
  ASSERT_TRUE(text);
  EXPECT_EQ(text->status, 200) << text->body;
  EXPECT_EQ(text->body.find(": progress"), std::string::npos) << text->body;
}

}  // namespace
}  // namespace qwenvl::server::testing
