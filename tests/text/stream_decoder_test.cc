// StreamDecoder: only complete UTF-8 while streaming, and the same text as Decode in the end.
#include <gtest/gtest.h>

#include <random>

#include "text/byte_level.h"
#include "text/tokenizer.h"
#include "text/utf8.h"
#include "tokenizer_test_util.h"

namespace qwenvl::text {
namespace {

using testing::QwenTokenizer;

// Streams `ids`, checking each piece is valid UTF-8; returns the whole output.
std::string StreamAll(const std::vector<TokenId>& ids, bool skip_special, int* pieces = nullptr) {
  StreamDecoder stream(QwenTokenizer(), skip_special);
  std::string out;
  for (TokenId id : ids) {
    const std::string piece = stream.Push(id);
    EXPECT_TRUE(IsValidUtf8(piece));
    if (pieces != nullptr && !piece.empty()) ++*pieces;
    out += piece;
  }
  const std::string rest = stream.Flush();
  EXPECT_TRUE(IsValidUtf8(rest));
  return out + rest;
}

// The ids of the single bytes of `text`, so that every multi-byte character is split across tokens.
std::vector<TokenId> ByteTokens(std::string_view text) {
  std::vector<TokenId> ids;
  for (char c : text) {
    ids.push_back(QwenTokenizer().TokenToId(ByteLevelChar(static_cast<uint8_t>(c))));
  }
  return ids;
}

TEST(StreamDecoder, HoldsBackEmojiSplitAcrossTokens) {
  const std::string emoji = "\xF0\x9F\x98\x80";  // 😀
  const std::vector<TokenId> ids = ByteTokens(emoji);
  StreamDecoder stream(QwenTokenizer(), false);
  EXPECT_EQ(stream.Push(ids[0]), "");
  EXPECT_EQ(stream.Push(ids[1]), "");
  EXPECT_EQ(stream.Push(ids[2]), "");
  EXPECT_EQ(stream.Push(ids[3]), emoji);
  EXPECT_EQ(stream.Flush(), "");
}

TEST(StreamDecoder, EmitsCjkAndEmojiOnlyWhenComplete) {
  const std::string text = "中文👍🏽🇯🇵 ok";
  const std::vector<TokenId> ids = ByteTokens(text);
  int pieces = 0;
  EXPECT_EQ(StreamAll(ids, false, &pieces), text);
  EXPECT_EQ(pieces, 2 + 4 + 3);  // one piece per character
  // The tokenizer's own ids for such text also split characters across tokens.
  const std::vector<TokenId> real =
      QwenTokenizer().Encode("🦙.cpp 😶‍🌫️ 火锅很好吃");
  EXPECT_EQ(StreamAll(real, false), "🦙.cpp 😶‍🌫️ 火锅很好吃");
}

TEST(StreamDecoder, FlushRepairsAnUnfinishedCharacter) {
  const std::vector<TokenId> ids = ByteTokens("a\xE4\xB8");
  StreamDecoder stream(QwenTokenizer(), false);
  EXPECT_EQ(stream.Push(ids[0]), "a");
  EXPECT_EQ(stream.Push(ids[1]), "");
  EXPECT_EQ(stream.Push(ids[2]), "");
  EXPECT_EQ(stream.Flush(), kReplacementChar);
  EXPECT_EQ(stream.Flush(), "");
  // A broken sequence is replaced as soon as it cannot be completed.
  StreamDecoder again(QwenTokenizer(), false);
  EXPECT_EQ(again.Push(ids[1]), "");
  EXPECT_EQ(again.Push(ids[0]), std::string(kReplacementChar) + "a");
}

TEST(StreamDecoder, SkipsSpecialTokens) {
  const std::vector<TokenId> ids = QwenTokenizer().Encode("<|im_start|>assistant\n好<|im_end|>");
  EXPECT_EQ(StreamAll(ids, true), "assistant\n好");
  EXPECT_EQ(StreamAll(ids, false), "<|im_start|>assistant\n好<|im_end|>");
}

TEST(StreamDecoder, EqualsDecodeOnAllCases) {
  for (const char* file : {"cases.json", "peer-vectors.json", "generated.json"}) {
    for (const auto& c : testing::LoadCases(file)) {
      const auto ids = c["ids"].get<std::vector<TokenId>>();
      EXPECT_EQ(StreamAll(ids, false), QwenTokenizer().Decode(ids)) << c["text"].dump();
      EXPECT_EQ(StreamAll(ids, true), QwenTokenizer().Decode(ids, true)) << c["text"].dump();
    }
  }
}

TEST(StreamDecoder, EqualsDecodeOnRandomIds) {
  // Random ids mostly decode to broken UTF-8: the repair must agree between the two paths.
  std::mt19937 rng(7);
  std::uniform_int_distribution<TokenId> any_id(-10, 151700);
  std::uniform_int_distribution<TokenId> byte_id(0, 255);
  for (int round = 0; round < 200; ++round) {
    std::vector<TokenId> ids;
    for (int k = 0; k < 40; ++k) ids.push_back(round % 2 ? any_id(rng) : byte_id(rng));
    EXPECT_EQ(StreamAll(ids, false), QwenTokenizer().Decode(ids));
  }
}

}  // namespace
}  // namespace qwenvl::text
