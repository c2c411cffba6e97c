// /save and /load of `qwenvl chat`: a round trip, and every malformed file refused with the place.
#include "cli/chat_transcript.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "qwenvl/error.h"

namespace qwenvl::cli::chat {
namespace {

using ::testing::HasSubstr;

std::string LoadError(const std::string& text) {
  try {
    TranscriptFromJson(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruptFile);
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << text.substr(0, 200);
  return "";
}

TEST(ChatTranscript, RoundTrip) {
  Transcript t;
  t.system = "Be brief.";
  t.turns.push_back({"user",
                     "What is this?\nTwo lines, \"quotes\", ünïcode.",
                     {{Media::Kind::kImage, "/p/a b.png"},
                      {Media::Kind::kImage, "/p/c.png"},
                      {Media::Kind::kVideo, "/p/frames"}}});
  t.turns.push_back({"assistant", "A cat.", {}});
  t.turns.push_back({"user", "And now?", {}});
  const std::string json = TranscriptToJson(t);
  EXPECT_THAT(json, HasSubstr("\"format\": \"qwenvl-chat\""));
  EXPECT_THAT(json, HasSubstr("\"images\": ["));
  const Transcript back = TranscriptFromJson(json);
  ASSERT_TRUE(back.system.has_value());
  EXPECT_EQ(*back.system, "Be brief.");
  ASSERT_EQ(back.turns.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back.turns[i].role, t.turns[i].role);
    EXPECT_EQ(back.turns[i].text, t.turns[i].text);
    ASSERT_EQ(back.turns[i].media.size(), t.turns[i].media.size());
    for (size_t j = 0; j < t.turns[i].media.size(); ++j) {
      EXPECT_EQ(back.turns[i].media[j].kind, t.turns[i].media[j].kind);
      EXPECT_EQ(back.turns[i].media[j].path, t.turns[i].media[j].path);
    }
  }
  // No system prompt stays none.
  EXPECT_FALSE(TranscriptFromJson(TranscriptToJson(Transcript{})).system.has_value());
}

TEST(ChatTranscript, AnswerWithBrokenUtf8IsStillSaved) {
  Transcript t;
  t.turns.push_back({"assistant", "cut \xe4\xb8", {}});
  const Transcript back = TranscriptFromJson(TranscriptToJson(t));
  EXPECT_EQ(back.turns[0].text, "cut \xef\xbf\xbd");  // U+FFFD
}

TEST(ChatTranscript, MalformedFilesAreRefusedWithThePlace) {
  const std::string head = R"({"format": "qwenvl-chat", "version": 1, )";
  EXPECT_THAT(LoadError(""), HasSubstr("not valid JSON"));
  EXPECT_THAT(LoadError("{\"format\": \"qwenvl-chat\", "), HasSubstr("not valid JSON"));
  EXPECT_THAT(LoadError("[]"), HasSubstr("expected a JSON object"));
  EXPECT_THAT(LoadError(R"({"messages": []})"), HasSubstr("format"));
  EXPECT_THAT(LoadError(R"({"format": "other", "version": 1, "messages": []})"),
              HasSubstr("format"));
  EXPECT_THAT(LoadError(R"({"format": "qwenvl-chat", "version": 2, "messages": []})"),
              HasSubstr("version"));
  EXPECT_THAT(LoadError(R"({"format": "qwenvl-chat", "version": "1", "messages": []})"),
              HasSubstr("version"));
  EXPECT_THAT(LoadError(head + R"("messages": {}})"), HasSubstr("messages: expected a list"));
  EXPECT_THAT(LoadError(head + R"("system": 3, "messages": []})"), HasSubstr("system"));
  EXPECT_THAT(LoadError(head + R"("messages": [3]})"), HasSubstr("messages[0]: expected an"));
  EXPECT_THAT(LoadError(head + R"("messages": [{"content": "x"}]})"),
              HasSubstr("messages[0].role: missing"));
  EXPECT_THAT(LoadError(head + R"("messages": [{"role": "system", "content": "x"}]})"),
              HasSubstr("messages[0].role: expected \"user\" or \"assistant\""));
  EXPECT_THAT(LoadError(head + R"("messages": [{"role": "user"}]})"),
              HasSubstr("messages[0].content: missing"));
  EXPECT_THAT(LoadError(head + R"("messages": [{"role": "user", "content": ["x"]}]})"),
              HasSubstr("messages[0].content: expected a string"));
  EXPECT_THAT(
      LoadError(head + R"("messages": [{"role": "user", "content": "", "images": "a.png"}]})"),
      HasSubstr("messages[0].images: expected a list"));
  EXPECT_THAT(LoadError(head + R"("messages": [{"role": "user", "content": "", "images": [1]}]})"),
              HasSubstr("messages[0].images[0]: expected a string"));
  EXPECT_THAT(LoadError(head + R"("messages": [{"role": "user", "content": "", "videos": [""]}]})"),
              HasSubstr("messages[0].videos[0]: an empty path"));
  EXPECT_THAT(
      LoadError(head + R"("messages": [{"role": "user", "content": "", "images": ["a\u0000b"]}]})"),
      HasSubstr("NUL"));
  EXPECT_THAT(
      LoadError(head + R"("messages": [{"role": "assistant", "content": "", "images": ["a"]}]})"),
      HasSubstr("assistant message cannot hold"));
  // Invalid UTF-8 inside a string is not JSON.
  EXPECT_THAT(LoadError(head + "\"messages\": [{\"role\": \"user\", \"content\": \"\xff\"}]}"),
              HasSubstr("not valid JSON"));
}

TEST(ChatTranscript, OversizedAndDeepFilesAreRefused) {
  // Too many pictures in one message.
  std::string many = R"({"format": "qwenvl-chat", "version": 1, "messages": [{"role": "user",)"
                     R"( "content": "", "images": [)";
  for (size_t i = 0; i <= kMaxMediaPerTurn; ++i) many += (i ? ",\"a\"" : "\"a\"");
  EXPECT_THAT(LoadError(many + "]}]}"), HasSubstr("more than 64 items"));
  // Too large a file, before any parsing.
  EXPECT_THAT(LoadError(std::string(kMaxTranscriptBytes + 1, ' ')), HasSubstr("larger than"));
  // Deep nesting: refused, not a stack overflow.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_THAT(LoadError(deep), HasSubstr("expected a JSON object"));
  const std::string deep_messages = R"({"format": "qwenvl-chat", "version": 1, "messages": [)" +
                                    std::string(100000, '[') + std::string(100000, ']') + "]}";
  EXPECT_THAT(LoadError(deep_messages), HasSubstr("messages[0]: expected an object"));
  // Many messages are fine up to the limit.
  std::string lots = R"({"format": "qwenvl-chat", "version": 1, "messages": [)";
  for (int i = 0; i < 5000; ++i)
    lots += std::string(i ? "," : "") + R"({"role": "user", "content": "hi"})";
  EXPECT_EQ(TranscriptFromJson(lots + "]}").turns.size(), 5000u);
}

}  // namespace
}  // namespace qwenvl::cli::chat
