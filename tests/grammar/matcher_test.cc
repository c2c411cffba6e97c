// Token masks: the prefix-tree walk gives exactly the tokens whose bytes keep the answer alive
// (checked against feeding each token alone), on a synthetic vocabulary and on Qwen2.5-VL's.
#include "grammar/matcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "grammar/json_schema.h"
#include "grammar_test_util.h"
#include "text/tokenizer.h"

namespace qwenvl::grammar {
namespace {

// For every state reached along `text`, the mask equals the token-by-token check.
void ExpectMasksMatchBruteForce(CompiledGrammar& g, std::string_view text) {
  const TokenVocabulary& v = g.vocabulary();
  int32_t state = g.initial_state();
  for (size_t i = 0; i <= text.size(); ++i) {
    const auto mask = g.Mask(state);
    for (size_t id = 0; id < v.size(); ++id) {
      const TokenId t = static_cast<TokenId>(id);
      bool expect;
      if (v.IsEnd(t)) {
        expect = g.CanEnd(state);
      } else {
        expect = !v.bytes(t).empty() && g.Advance(state, v.bytes(t)) != CompiledGrammar::kDead;
      }
      ASSERT_EQ(mask->Test(t), expect)
          << "after '" << text.substr(0, i) << "' token " << id << " '" << v.bytes(t) << "'";
    }
    if (i == text.size()) break;
    state = g.Advance(state, text.substr(i, 1));
    ASSERT_NE(state, CompiledGrammar::kDead) << text.substr(0, i + 1);
  }
}

TEST(Matcher, MasksEqualTokenByTokenChecksOnRandomVocabularies) {
  std::mt19937 rng(3);
  const std::string alphabet = "{}[]\":, abtrue0123456789\\nl-.\xC3\xA9";
  std::vector<std::string> extra;
  for (int i = 0; i < 3000; ++i) {
    std::string t;
    const int len = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < len; ++k) t += alphabet[rng() % alphabet.size()];
    extra.push_back(t);
  }
  auto vocab = testing::ByteVocabulary(extra);
  auto g = testing::Compile(
      JsonSchemaToGbnf(
          R"({"type":"object","properties":{"a":{"type":"array","items":{"type":"boolean"}},"b":{"type":"string"}},"additionalProperties":true})"),
      vocab);
  ExpectMasksMatchBruteForce(*g,
                             R"({"a": [true, false], "b": "x\né\"", "c": {"d": [1.5e3, null]}})");
}

TEST(Matcher, AcceptRefusesWhatTheMaskRefusesAndEndsOnlyWhenComplete) {
  auto vocab = testing::ByteVocabulary({"ab", "abc"});
  auto g = testing::Compile(R"(root ::= "ab" "c"?)", vocab);
  const TokenId end = vocab->end_tokens()[0];
  GrammarMatcher m(g);
  EXPECT_FALSE(m.Accept(end));  // nothing written yet
  EXPECT_FALSE(m.Accept('b'));
  EXPECT_FALSE(m.Accept(-1));
  EXPECT_FALSE(m.Accept(static_cast<TokenId>(vocab->size())));
  EXPECT_TRUE(m.Accept(256));  // "ab"
  EXPECT_TRUE(m.CanEnd());
  EXPECT_TRUE(m.Accept('c'));
  EXPECT_EQ(m.Mask()->Count(), 1u);  // only the end is left
  EXPECT_TRUE(m.Accept(end));
  EXPECT_TRUE(m.ended());
}

// On the real 151k-token vocabulary: masks agree with token-by-token checks at a few states, and
// a state met again costs a lookup.
TEST(Matcher, QwenVocabularyMasks) {
  const auto tokenizer = text::Tokenizer::FromModelDir(QWENVL_DATA_DIR "/qwen2.5-vl-3b-instruct");
  std::vector<std::string> bytes(151936);
  for (TokenId id = 0; id < tokenizer.vocab_size(); ++id)
    if (!tokenizer.IsSpecial(id)) tokenizer.AppendTokenBytes(id, false, &bytes[id]);
  auto vocab =
      std::make_shared<TokenVocabulary>(std::move(bytes), std::vector<TokenId>{151645, 151643});
  auto g = testing::Compile(
      JsonSchemaToGbnf(
          R"({"type":"object","properties":{"name":{"type":"string"},"n":{"type":"integer"}},"required":["name","n"],"additionalProperties":false})"),
      vocab);
  int32_t state = g->initial_state();
  for (std::string_view piece : {"", "{\"", "name\": \"", "Zoë", "\", \"n\": 4"}) {
    state = g->Advance(state, piece);
    ASSERT_NE(state, CompiledGrammar::kDead);
    const auto mask = g->Mask(state);
    size_t expect_count = 0;
    for (TokenId id = 0; id < 151936; ++id) {
      const bool expect = vocab->IsEnd(id)
                              ? g->CanEnd(state)
                              : !vocab->bytes(id).empty() &&
                                    g->Advance(state, vocab->bytes(id)) != CompiledGrammar::kDead;
      ASSERT_EQ(mask->Test(id), expect) << piece << " token " << id;
      expect_count += expect;
    }
    EXPECT_EQ(mask->Count(), expect_count);
  }
  // Inside the string the state repeats: other text, same state, so its mask (computed above,
  // after "Zoë") is a lookup.
  const int32_t in_string = g->Advance(g->initial_state(), "{\"name\": \"ab");
  EXPECT_EQ(in_string, g->Advance(g->initial_state(), "{\"name\": \"Zoë"));
  EXPECT_EQ(g->Advance(in_string, "cdef ghi"), in_string);
  const size_t computed = g->masks_computed();
  g->Mask(in_string);
  g->Mask(g->Advance(in_string, "xyz"));
  EXPECT_EQ(g->masks_computed(), computed);
}

}  // namespace
}  // namespace qwenvl::grammar
