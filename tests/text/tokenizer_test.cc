// The tokenizer against the reference (HF tokenizers) on the fixture cases, the llama.cpp Qwen2
// vectors and the made-up texts of generated.json, plus invariants the reference also satisfies.
#include "text/tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "text/byte_level.h"
#include "tokenizer_test_util.h"

namespace qwenvl::text {
namespace {

using ::testing::ElementsAre;
using testing::LoadCases;
using testing::QwenTokenizer;

// Checks ids (and the decoded text when the case has one) of every case in a file.
void CheckCases(const std::string& file, size_t min_cases) {
  const Tokenizer& tok = QwenTokenizer();
  const nlohmann::json cases = LoadCases(file);
  ASSERT_GE(cases.size(), min_cases) << file;
  for (const auto& c : cases) {
    const std::string text = c["text"];
    const auto expected = c["ids"].get<std::vector<TokenId>>();
    const std::vector<TokenId> ids = tok.Encode(text);
    EXPECT_EQ(ids, expected) << file << " text: " << nlohmann::json(text).dump();
    if (c.contains("decoded")) {
      EXPECT_EQ(tok.Decode(expected), c["decoded"].get<std::string>())
          << file << " text: " << nlohmann::json(text).dump();
    }
  }
}

TEST(Tokenizer, MatchesFixtureCases) { CheckCases("cases.json", 25); }

TEST(Tokenizer, MatchesPeerVectors) { CheckCases("peer-vectors.json", 46); }

TEST(Tokenizer, MatchesReferenceOnGeneratedTexts) { CheckCases("generated.json", 190); }

TEST(Tokenizer, KnownIds) {
  const Tokenizer& tok = QwenTokenizer();
  EXPECT_THAT(tok.Encode("Hello world"), ElementsAre(9707, 1879));
  EXPECT_EQ(tok.vocab_size(), 151665);
  EXPECT_EQ(tok.TokenToId("<|im_start|>"), 151644);
  EXPECT_EQ(tok.TokenToId("<|image_pad|>"), 151655);
  EXPECT_EQ(tok.TokenToId("Ġworld"), 1879);
  EXPECT_EQ(tok.TokenToId("no such token"), -1);
  EXPECT_EQ(tok.IdToToken(1879), "Ġworld");
  EXPECT_EQ(tok.IdToToken(151645), "<|im_end|>");
  EXPECT_EQ(tok.IdToToken(-1), "");
  EXPECT_EQ(tok.IdToToken(151665), "");
  EXPECT_TRUE(tok.IsSpecial(151643));   // <|endoftext|>
  EXPECT_TRUE(tok.IsSpecial(151655));   // <|image_pad|>
  EXPECT_FALSE(tok.IsSpecial(151657));  // <tool_call> is added but not special
  EXPECT_FALSE(tok.IsSpecial(1879));
  EXPECT_FALSE(tok.IsSpecial(999999));
}

TEST(Tokenizer, SplitsOnAddedTokensLongestFirst) {
  const Tokenizer& tok = QwenTokenizer();
  const std::vector<TokenId> ids = tok.Encode("a<|im_start|><|im_end|>b<tool_call>");
  ASSERT_EQ(ids.size(), 5u);
  EXPECT_EQ(ids[1], 151644);
  EXPECT_EQ(ids[2], 151645);
  EXPECT_EQ(ids[4], 151657);
  EXPECT_EQ(ids[0], tok.Encode("a")[0]);
  // An unfinished token is ordinary text.
  for (TokenId id : tok.Encode("<|im_start")) EXPECT_LT(id, 151643);
}

TEST(Tokenizer, DecodeSkipsSpecialTokensOnRequest) {
  const Tokenizer& tok = QwenTokenizer();
  const std::vector<TokenId> ids = tok.Encode("<|im_start|>user\nhi<tool_call><|im_end|>");
  EXPECT_EQ(tok.Decode(ids), "<|im_start|>user\nhi<tool_call><|im_end|>");
  EXPECT_EQ(tok.Decode(ids, /*skip_special_tokens=*/true), "user\nhi<tool_call>");
}

TEST(Tokenizer, DecodeSkipsUnknownIdsAndRepairsBrokenUtf8) {
  const Tokenizer& tok = QwenTokenizer();
  const std::vector<TokenId> ids = {9707, -5, 151665, 1 << 30, 1879};
  EXPECT_EQ(tok.Decode(ids), "Hello world");
  // "中" is three bytes; a lone first byte token decodes to U+FFFD.
  const TokenId lead = tok.TokenToId(ByteLevelEncode("\xE4\xB8"));
  ASSERT_GE(lead, 0);
  EXPECT_EQ(tok.Decode(std::vector<TokenId>{lead}), "\xEF\xBF\xBD");
}

TEST(Tokenizer, RoundTripsNfcText) {
  const Tokenizer& tok = QwenTokenizer();
  const std::string text =
      "  Mixed: English, 中文, 日本語, 한국어, русский, العربية, हिन्दी, ไทย "
      "😀👍🏽🇯🇵\n"
      "\tcode(x) { return x**2; }  \r\n\n\n   trailing   ";
  std::string doc;
  for (int i = 0; i < 50; ++i) doc += text;
  EXPECT_EQ(tok.Decode(tok.Encode(doc)), doc);
}

TEST(Tokenizer, NormalizesToNfc) {
  const Tokenizer& tok = QwenTokenizer();
  EXPECT_EQ(tok.Encode("Cafe\xCC\x81"), tok.Encode("Caf\xC3\xA9"));  // e + U+0301 == é
  EXPECT_EQ(tok.Decode(tok.Encode("Cafe\xCC\x81")), "Caf\xC3\xA9");
}

TEST(Tokenizer, InvalidUtf8IsReplacedByReplacementCharacter) {
  const Tokenizer& tok = QwenTokenizer();
  // Each maximal ill-formed subpart becomes one U+FFFD before tokenizing.
  EXPECT_EQ(tok.Encode("a\xFF"
                       "b"),
            tok.Encode("a\xEF\xBF\xBD"
                       "b"));
  EXPECT_EQ(tok.Encode("x\xE4\xB8"), tok.Encode("x\xEF\xBF\xBD"));
  EXPECT_EQ(tok.Encode("\xC0\xAF"), tok.Encode("\xEF\xBF\xBD\xEF\xBF\xBD"));
  EXPECT_EQ(tok.Decode(tok.Encode("ok\xED\xA0\x80")), "ok\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  const std::string with_nul("a\0b", 3);
  EXPECT_EQ(tok.Decode(tok.Encode(with_nul)), with_nul);
}

TEST(Tokenizer, LongWordWithoutSpacesIsFast) {
  const Tokenizer& tok = QwenTokenizer();
  std::string text;
  while (text.size() < 100000) text += "abcdefghij";
  const auto start = std::chrono::steady_clock::now();
  const std::vector<TokenId> ids = tok.Encode(text);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 0.5);
  EXPECT_EQ(tok.Decode(ids), text);
  EXPECT_LT(ids.size(), text.size() / 2);

  std::string same(100000, 'a');
  EXPECT_EQ(tok.Decode(tok.Encode(same)), same);
  std::string cjk;
  while (cjk.size() < 100000) cjk += "中文测试文本";
  EXPECT_EQ(tok.Decode(tok.Encode(cjk)), cjk);
}

TEST(Tokenizer, LongWhitespaceAndPunctuationRuns) {
  const Tokenizer& tok = QwenTokenizer();
  for (const std::string unit : {" ", "\t", "\n", " \n", "!", "- ", "1"}) {
    std::string text;
    while (text.size() < 50000) text += unit;
    text += "x";
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(tok.Decode(tok.Encode(text)), text) << nlohmann::json(unit).dump();
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.0)
        << nlohmann::json(unit).dump();
  }
}

TEST(Tokenizer, EncodesFromSeveralThreadsAtOnce) {
  // One Tokenizer serves every request of the server: Encode must not share mutable state.
  const Tokenizer& tok = QwenTokenizer();
  const nlohmann::json cases = LoadCases("generated.json");
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 5; ++round) {
        for (const auto& c : cases) {
          if (tok.Encode(c["text"].get<std::string>()) != c["ids"].get<std::vector<TokenId>>()) {
            ++mismatches;
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Tokenizer, LoadsQuickly) {
  const auto start = std::chrono::steady_clock::now();
  const Tokenizer tok = Tokenizer::FromModelDir(testing::kModelDir);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(tok.vocab_size(), 151665);
  EXPECT_LT(seconds, 2.0);  // about 0.3 s in a release build; generous for sanitizer builds
}

}  // namespace
}  // namespace qwenvl::text
