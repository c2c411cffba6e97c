#include "runtime/stop_matcher.h"

#include <gtest/gtest.h>

namespace qwenvl::runtime {
namespace {

std::string Stream(StopMatcher& m, const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& p : pieces) out += m.Push(p);
  return out + m.Flush();
}

TEST(StopMatcher, StopStringSplitAcrossPiecesIsNeverEmitted) {
  StopMatcher m({"END"});
  std::string out;
  out += m.Push("hello E");
  EXPECT_EQ(out, "hello ");  // "E" held back
  out += m.Push("N");
  EXPECT_EQ(out, "hello ");
  out += m.Push("D and more");
  EXPECT_TRUE(m.stopped());
  out += m.Flush();
  EXPECT_EQ(out, "hello ");
}

TEST(StopMatcher, FalseStartIsReleased) {
  StopMatcher m({"END"});
  EXPECT_EQ(Stream(m, {"a E", "Nx", "y"}), "a ENxy");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcher, EarliestOfSeveralStopsWins) {
  StopMatcher m({"world", "lo w"});
  EXPECT_EQ(Stream(m, {"hello world"}), "hel");
}

TEST(StopMatcher, NoStopsPassesEverythingThrough) {
  StopMatcher m({});
  EXPECT_EQ(m.Push("abc"), "abc");
  EXPECT_EQ(m.Push("€"), "€");
}

TEST(StopMatcher, HeldTextKeepsWholeCharacters) {
  // The stop string starts with the last byte of "é" (0xA9): nothing may split the character.
  StopMatcher m({"\xA9Z"});
  std::string out = m.Push("caf\xC3\xA9");
  EXPECT_EQ(out, "caf");
  out += m.Push("!");
  out += m.Flush();
  EXPECT_EQ(out, "caf\xC3\xA9!");
}

}  // namespace
}  // namespace qwenvl::runtime
