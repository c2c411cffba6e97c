// UTF-8 repair follows "substitution of maximal subparts" (as Rust's from_utf8_lossy).
#include "text/utf8.h"

#include <gtest/gtest.h>

#include <vector>

namespace qwenvl::text {
namespace {

const std::string kR(kReplacementChar);

TEST(Utf8, ValidTextIsUntouched) {
  for (const std::string& s :
       std::vector<std::string>{"", "abc", "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80",
                                "\xF4\x8F\xBF\xBF", std::string("\0x", 2)}) {
    EXPECT_TRUE(IsValidUtf8(s));
    EXPECT_EQ(SanitizeUtf8(s), s);
  }
}

TEST(Utf8, ReplacesMaximalSubparts) {
  EXPECT_EQ(SanitizeUtf8("\xFF"), kR);
  EXPECT_EQ(SanitizeUtf8("a\x80"
                         "b"),
            "a" + kR + "b");
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), kR + kR);                    // overlong lead
  EXPECT_EQ(SanitizeUtf8("\xE0\x80\xAF"), kR + kR + kR);           // overlong 3-byte
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), kR + kR + kR);           // surrogate
  EXPECT_EQ(SanitizeUtf8("\xF4\x90\x80\x80"), kR + kR + kR + kR);  // above U+10FFFF
  EXPECT_EQ(SanitizeUtf8("\xE4\xB8"
                         "a"),
            kR + "a");                          // truncated 3-byte: one U+FFFD
  EXPECT_EQ(SanitizeUtf8("\xF0\x9F\x98"), kR);  // truncated at the end
  EXPECT_EQ(SanitizeUtf8("\xF0\x9F\x98\xF0\x9F\x98\x80"), kR + "\xF0\x9F\x98\x80");
  EXPECT_FALSE(IsValidUtf8("\xE4\xB8"));
}

TEST(Utf8, IncompleteTail) {
  EXPECT_EQ(IncompleteUtf8Tail(""), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("abc"), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("a\xE4"), 1u);
  EXPECT_EQ(IncompleteUtf8Tail("a\xE4\xB8"), 2u);
  EXPECT_EQ(IncompleteUtf8Tail("a\xE4\xB8\xAD"), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("\xF0\x9F\x98"), 3u);
  EXPECT_EQ(IncompleteUtf8Tail("\xF0\x9F\x98\x80"), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("\x80\x80"), 0u);  // cannot be completed
  EXPECT_EQ(IncompleteUtf8Tail("\xE0\x80"), 0u);  // overlong, already invalid
  EXPECT_EQ(IncompleteUtf8Tail("\xFF"), 0u);
}

TEST(Utf8, EncodesAndDecodesCodePoints) {
  for (char32_t c : {U'\0', U'A', U'\u00E9', U'\u4E2D', U'\U0001F600', U'\U0010FFFF'}) {
    std::string s;
    AppendUtf8(c, &s);
    char32_t back = 0;
    EXPECT_EQ(DecodeUtf8(s, &back), s.size());
    EXPECT_EQ(back, c);
  }
  char32_t c = 0;
  EXPECT_EQ(DecodeUtf8("\xE4\xB8", &c), 0u);
}

}  // namespace
}  // namespace qwenvl::text
