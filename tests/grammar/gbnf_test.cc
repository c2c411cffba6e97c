// The GBNF parser: what each construct matches, and a clear error for every malformed grammar.
#include "grammar/gbnf.h"

#include <gtest/gtest.h>

#include <random>

#include "grammar/grammar.h"
#include "grammar_test_util.h"
#include "qwenvl/error.h"

namespace qwenvl::grammar {
namespace {

using testing::Compile;
using testing::IsPrefix;
using testing::Matches;

TEST(Gbnf, LiteralsAlternativesAndGroups) {
  auto g = Compile(R"(root ::= "yes" | "no" | ("may" "be")  # a comment
)");
  EXPECT_TRUE(Matches(*g, "yes"));
  EXPECT_TRUE(Matches(*g, "no"));
  EXPECT_TRUE(Matches(*g, "maybe"));
  EXPECT_FALSE(Matches(*g, "ye"));
  EXPECT_TRUE(IsPrefix(*g, "ye"));
  EXPECT_FALSE(IsPrefix(*g, "yess"));
  EXPECT_FALSE(Matches(*g, ""));
}

TEST(Gbnf, RepetitionsAndTheirBounds) {
  auto g = Compile(R"(root ::= "a"* "b"+ "c"? "d"{2} "e"{1,3} "f"{2,})");
  EXPECT_TRUE(Matches(*g, "bddeff"));
  EXPECT_TRUE(Matches(*g, "aaabbbcddeeefff"));
  EXPECT_FALSE(Matches(*g, "ddeff"));      // b+ needs one
  EXPECT_FALSE(Matches(*g, "bdeff"));      // d{2}
  EXPECT_FALSE(Matches(*g, "bddeeeeff"));  // e{1,3}
  EXPECT_FALSE(Matches(*g, "bddef"));      // f{2,}
  EXPECT_FALSE(Matches(*g, "bccddeff"));   // c?
}

TEST(Gbnf, RulesAcrossLinesAndRecursion) {
  auto g = Compile(R"(
root ::= list
list ::= "[" (item ("," item)*)? "]"
item ::= [0-9]+
       | list
)");
  EXPECT_TRUE(Matches(*g, "[]"));
  EXPECT_TRUE(Matches(*g, "[1,[2,[3]],45]"));
  EXPECT_FALSE(Matches(*g, "[1,]"));
  EXPECT_FALSE(Matches(*g, "[[1]"));
}

TEST(Gbnf, EscapesAreCodePoints) {
  auto g = Compile(R"(root ::= "\x41\u00e9\U0001F600\n\t\"\\")");
  EXPECT_TRUE(Matches(*g, "A\xC3\xA9\xF0\x9F\x98\x80\n\t\"\\"));
}

// A class over code points matches exactly their UTF-8 forms: checked over random code points of
// every length against the class's own definition.
TEST(Gbnf, UnicodeClassesMatchExactlyTheirCodePoints) {
  auto g = Compile(
      R"(root ::= [a-z\u00e0-\u00ff\u4e00-\u9fff\U0001F300-\U0001F5FF] | "!" [^a-z"\u4e00-\u9fff])");
  const auto in_class = [](uint32_t cp) {
    return (cp >= 'a' && cp <= 'z') || (cp >= 0xE0 && cp <= 0xFF) ||
           (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x1F300 && cp <= 0x1F5FF);
  };
  std::mt19937 rng(7);
  for (int i = 0; i < 4000; ++i) {
    const int len = i % 4;
    const uint32_t limit[] = {0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
    uint32_t cp = std::uniform_int_distribution<uint32_t>(0, limit[len])(rng);
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    if (i % 5 == 0) cp = 0x4E00 + cp % 0x5200;  // near the ranges too
    std::string utf8;
    AppendUtf8(cp, &utf8);
    EXPECT_EQ(Matches(*g, utf8), in_class(cp)) << std::hex << cp;
    const bool negated_ok =
        !((cp >= 'a' && cp <= 'z') || cp == '"' || (cp >= 0x4E00 && cp <= 0x9FFF));
    EXPECT_EQ(Matches(*g, "!" + utf8), negated_ok) << std::hex << cp;
  }
  // Bytes that are no UTF-8 at all never match, even for "any character".
  auto any = Compile("root ::= .");
  EXPECT_FALSE(Matches(*any, "\xC0\x80"));          // overlong
  EXPECT_FALSE(Matches(*any, "\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(Matches(*any, "\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(Matches(*any, "\x80"));
  EXPECT_TRUE(Matches(*any, "\xF4\x8F\xBF\xBF"));
}

void ExpectError(const std::string& text, const std::string& needle) {
  try {
    ParseGbnf(text);
    ADD_FAILURE() << "accepted: " << text;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << text;
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Gbnf, MalformedGrammarsAreRefusedWithTheirPlace) {
  ExpectError("", "empty");
  ExpectError("root ::= \"abc", "line 1, column 14: unterminated literal");
  ExpectError("root ::= [abc", "unterminated character class");
  ExpectError("root ::= (\"a\"", "expected ')'");
  ExpectError("root ::= other", "'other' is used but never defined");
  ExpectError("start ::= \"a\"", "no rule named 'root'");
  ExpectError("root ::= \"a\"\nroot ::= \"b\"", "line 2");
  ExpectError("root ::= root \"a\"", "left-recursive");
  ExpectError("root ::= x\nx ::= \"\"? root", "left-recursive");
  ExpectError("root ::= \"a\"{3,2}", "n < m");
  ExpectError("root ::= \"a\"{99999}", "above");
  ExpectError("root ::= [z-a]", "out of order");
  ExpectError("root ::= \"\\q\"", "unknown escape");
  ExpectError("root ::= \"\\xZZ\"", "hex digits");
  ExpectError("root ::= <[42]>", "token references");
  ExpectError("root ::= \"a\" }", "unexpected character");
  ExpectError("root = \"a\"", "expected '::='");
  ExpectError("root ::= \"\xff\"", "invalid UTF-8");
  ExpectError("root ::= " + std::string(100, '(') + "\"a\"" + std::string(100, ')'),
              "nested deeper");
}

TEST(Gbnf, SizeIsBounded) {
  // Repetitions are expanded: refused once the expansion passes the element bound.
  std::string wide = "root ::=";
  for (int i = 0; i < 150; ++i) wide += " \"x\"{9000}";
  ExpectError(wide, "too large");
  // Nested repetitions share their inner rule: the size adds up, it does not multiply.
  auto nested = Compile("root ::= ((((\"ab\"{100}){100}){100}){100})");
  EXPECT_FALSE(Matches(*nested, "abab"));
  // A long chain of rules is fine (no recursion on the parser's or the checker's stack).
  std::string chain = "root ::= r0\n";
  for (int i = 0; i < 50000; ++i)
    chain += "r" + std::to_string(i) + " ::= r" + std::to_string(i + 1) + "\n";
  chain += "r50000 ::= \"z\"\n";
  auto g = Compile(chain);
  EXPECT_TRUE(Matches(*g, "z"));
}

}  // namespace
}  // namespace qwenvl::grammar
