// The pure parts of `qwenvl chat`: commands, paths, `"""` messages, /set; hostile inputs included.
#include "cli/chat_commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace qwenvl::cli::chat {
namespace {

using ::testing::HasSubstr;

TEST(ChatCommand, NamesAndArguments) {
  EXPECT_EQ(ParseCommand("hello").kind, CommandKind::kMessage);
  EXPECT_EQ(ParseCommand("  what is /image?").kind, CommandKind::kMessage);
  EXPECT_EQ(ParseCommand("").kind, CommandKind::kMessage);
  const Command image = ParseCommand("  /image   'a b.png'  c.png \t");
  EXPECT_EQ(image.kind, CommandKind::kImage);
  EXPECT_EQ(image.name, "/image");
  EXPECT_EQ(image.argument, "'a b.png'  c.png");
  EXPECT_EQ(ParseCommand("/help").kind, CommandKind::kHelp);
  EXPECT_EQ(ParseCommand("/?").kind, CommandKind::kHelp);
  EXPECT_EQ(ParseCommand("/bye").kind, CommandKind::kQuit);
  EXPECT_EQ(ParseCommand("/quit").kind, CommandKind::kQuit);
  EXPECT_EQ(ParseCommand("/clear").kind, CommandKind::kReset);
  EXPECT_EQ(ParseCommand("/set temperature 0.2").argument, "temperature 0.2");
  EXPECT_EQ(ParseCommand("/system You are terse.").argument, "You are terse.");
  // A prefix of a name is not the command; an absolute path is "unknown" (the session tries it
  // as a path).
  EXPECT_EQ(ParseCommand("/imagine").kind, CommandKind::kUnknown);
  EXPECT_EQ(ParseCommand("/home/me/a.png").kind, CommandKind::kUnknown);
  EXPECT_EQ(ParseCommand("/").kind, CommandKind::kUnknown);
}

TEST(ChatPaths, QuotesEscapesAndHome) {
  auto paths = [](std::string_view text) { return ParsePaths(text, "/home/me").paths; };
  EXPECT_EQ(paths("a.png"), std::vector<std::string>{"a.png"});
  EXPECT_EQ(paths("'my photo.png'"), std::vector<std::string>{"my photo.png"});
  EXPECT_EQ(paths("\"my photo.png\""), std::vector<std::string>{"my photo.png"});
  EXPECT_EQ(paths(R"(my\ photo.png)"), std::vector<std::string>{"my photo.png"});
  EXPECT_EQ(paths(R"(/tmp/it\'s.png)"), std::vector<std::string>{"/tmp/it's.png"});
  EXPECT_EQ(paths(R"("say \"hi\".png")"), std::vector<std::string>{R"(say "hi".png)"});
  EXPECT_EQ(paths(R"('back\slash.png')"), std::vector<std::string>{R"(back\slash.png)"});
  EXPECT_EQ(paths("~/a.png"), std::vector<std::string>{"/home/me/a.png"});
  EXPECT_EQ(paths("~"), std::vector<std::string>{"/home/me"});
  EXPECT_EQ(paths("~bob/a.png"), std::vector<std::string>{"~bob/a.png"});
  EXPECT_EQ(paths("'~/a.png'"), std::vector<std::string>{"~/a.png"});  // quoted: literal
  EXPECT_EQ(paths("a~/b.png"), std::vector<std::string>{"a~/b.png"});
  EXPECT_EQ(paths(" a.png\t'b c.png'  ~/d\\ e.png "),
            (std::vector<std::string>{"a.png", "b c.png", "/home/me/d e.png"}));
  EXPECT_EQ(paths("pre'fix mid'post"), std::vector<std::string>{"prefix midpost"});
  // UTF-8 names pass through byte for byte.
  EXPECT_EQ(paths("'fotó ñ.png'"), std::vector<std::string>{"fotó ñ.png"});
}

TEST(ChatPaths, HostileInputsGiveErrors) {
  auto error = [](std::string_view text, size_t max = 16) {
    const PathList l = ParsePaths(text, "/home/me", max);
    EXPECT_TRUE(l.paths.empty()) << text;
    return l.error;
  };
  EXPECT_THAT(error("'unterminated.png"), HasSubstr("unterminated '"));
  EXPECT_THAT(error("\"unterminated \\\" still.png"), HasSubstr("unterminated \""));
  EXPECT_THAT(error(std::string("a\0b.png", 7)), HasSubstr("NUL"));
  EXPECT_THAT(error(std::string("'a\0b.png'", 9)), HasSubstr("NUL"));
  EXPECT_THAT(error("''"), HasSubstr("empty path"));
  EXPECT_THAT(error(""), HasSubstr("no path"));
  EXPECT_THAT(error("   "), HasSubstr("no path"));
  EXPECT_THAT(error(std::string(5000, 'x')), HasSubstr("longer than 4096"));
  EXPECT_THAT(error("'" + std::string(5000, 'x') + "'"), HasSubstr("longer than 4096"));
  EXPECT_EQ(ParsePaths("~/a", "").error, "~ cannot be expanded: HOME is not set");
  // A path list bomb: a million one-letter paths stop at the limit.
  std::string bomb;
  for (int i = 0; i < 1000000; ++i) bomb += "a ";
  EXPECT_THAT(error(bomb), HasSubstr("more than 16 paths"));
  EXPECT_THAT(error("a b", 1), HasSubstr("more than 1 paths"));
  // A huge line of one path's worth of spaces and quotes ends quickly too.
  EXPECT_THAT(error(std::string(1 << 20, '\'')), HasSubstr("empty path"));
  // Invalid UTF-8 is bytes like any other: the file system decides.
  EXPECT_EQ(ParsePaths("\xff\xfe.png", "/h").paths, std::vector<std::string>{"\xff\xfe.png"});
  // A lone trailing backslash is kept.
  EXPECT_EQ(ParsePaths("a\\", "/h").paths, std::vector<std::string>{"a\\"});
}

TEST(ChatPaths, ImageExtensions) {
  EXPECT_TRUE(HasImageExtension("/a/b.png"));
  EXPECT_TRUE(HasImageExtension("B.JPEG"));
  EXPECT_TRUE(HasImageExtension("x.WebP"));
  EXPECT_FALSE(HasImageExtension("x.mp4"));
  EXPECT_FALSE(HasImageExtension("png"));
  EXPECT_FALSE(HasImageExtension(""));
}

TEST(ChatMultiline, AsOllamaReadsIt) {
  MultilineReader r;
  auto feed = [&](std::string_view line) { return r.Feed(line); };
  using S = MultilineReader::Status;
  auto single = feed("hello");
  EXPECT_EQ(single.status, S::kMessage);
  EXPECT_EQ(single.text, "hello");
  EXPECT_FALSE(single.quoted);

  EXPECT_EQ(feed(R"("""first)").status, S::kMore);
  EXPECT_TRUE(r.open());
  EXPECT_EQ(feed("/image not a command").status, S::kMore);
  EXPECT_EQ(feed("").status, S::kMore);
  auto done = feed(R"(last""")");
  EXPECT_EQ(done.status, S::kMessage);
  EXPECT_TRUE(done.quoted);
  EXPECT_EQ(done.text, "first\n/image not a command\n\nlast");
  EXPECT_FALSE(r.open());

  EXPECT_EQ(feed(R"(""")").status, S::kMore);
  auto bare = feed(R"(""")");
  EXPECT_EQ(bare.text, "\n");

  auto one = feed(R"("""one line""")");
  EXPECT_EQ(one.status, S::kMessage);
  EXPECT_EQ(one.text, "one line");
  // `""""` is open quotes followed by a quote, not a closed message.
  EXPECT_EQ(feed(R"("""")").status, S::kMore);
  r.Clear();
  EXPECT_FALSE(r.open());
  // Quotes in the middle of a line neither open nor close.
  EXPECT_EQ(feed(R"(say """ hi)").text, R"(say """ hi)");
}

TEST(ChatMultiline, BoundedSize) {
  MultilineReader r;
  using S = MultilineReader::Status;
  EXPECT_EQ(r.Feed(R"(""")").status, S::kMore);
  const std::string chunk(64 * 1024, 'x');
  for (int i = 0; i < 100; ++i) EXPECT_EQ(r.Feed(chunk).status, S::kMore);
  // Past the limit the lines are skipped, commands included, up to the closing quotes.
  EXPECT_EQ(r.Feed("/quit").status, S::kMore);
  EXPECT_TRUE(r.open());
  EXPECT_EQ(r.Feed(R"(end""")").status, S::kTooLong);
  EXPECT_FALSE(r.open());
  EXPECT_EQ(r.Feed("next").text, "next");
  // One huge line, alone or opening a message.
  EXPECT_EQ(r.Feed(std::string(MultilineReader::kMaxBytes + 1, 'y')).status, S::kTooLong);
  EXPECT_EQ(r.Feed(R"(""")" + std::string(MultilineReader::kMaxBytes, 'y')).status, S::kMore);
  EXPECT_EQ(r.Feed(R"(""")").status, S::kTooLong);
  // Just under the limit is kept.
  EXPECT_EQ(r.Feed(R"(""")").status, S::kMore);
  const auto kept = r.Feed(std::string(MultilineReader::kMaxBytes - 10, 'z') + R"(""")");
  EXPECT_EQ(kept.status, S::kMessage);
  EXPECT_EQ(kept.text.size(), MultilineReader::kMaxBytes - 10 + 1);
  // NUL bytes and invalid UTF-8 are text like any other.
  const std::string odd("a\0b\xff", 4);
  EXPECT_EQ(r.Feed(odd).text, odd);
}

TEST(ChatSet, SetsChecksAndRestores) {
  SamplingParams defaults;
  defaults.temperature = 0.7f;
  defaults.max_new_tokens = 256;
  SamplingParams s = defaults;
  EXPECT_EQ(ApplySetting("temperature 0.2", defaults, s, 1000), "");
  EXPECT_FLOAT_EQ(*s.temperature, 0.2f);
  EXPECT_EQ(ApplySetting("parameter top_p 0.9", defaults, s, 1000), "");  // ollama's form
  EXPECT_FLOAT_EQ(*s.top_p, 0.9f);
  EXPECT_EQ(ApplySetting("top_k 40", defaults, s, 1000), "");
  EXPECT_EQ(*s.top_k, 40);
  EXPECT_EQ(ApplySetting("min_p 0.05", defaults, s, 1000), "");
  EXPECT_EQ(ApplySetting("repetition_penalty 1.1", defaults, s, 1000), "");
  EXPECT_EQ(ApplySetting("seed 18446744073709551615", defaults, s, 1000), "");
  EXPECT_EQ(*s.seed, 18446744073709551615ull);
  EXPECT_EQ(ApplySetting("max_tokens 1000", defaults, s, 1000), "");
  EXPECT_EQ(s.max_new_tokens, 1000);
  const std::string shown = DescribeSettings(s);
  EXPECT_THAT(shown, HasSubstr("temperature         0.2"));
  EXPECT_THAT(shown, HasSubstr("max_tokens          1000"));
  EXPECT_THAT(shown, HasSubstr("seed                18446744073709551615"));

  EXPECT_EQ(ApplySetting("temperature default", defaults, s, 1000), "");
  EXPECT_FLOAT_EQ(*s.temperature, 0.7f);
  EXPECT_EQ(ApplySetting("top_p default", defaults, s, 1000), "");
  EXPECT_FALSE(s.top_p.has_value());
  EXPECT_THAT(DescribeSettings(s), HasSubstr("top_p               (model default)"));
  EXPECT_EQ(ApplySetting("max_tokens default", defaults, s, 1000), "");
  EXPECT_EQ(s.max_new_tokens, 256);
}

TEST(ChatSet, RefusesBadValuesAndLeavesSettingsAlone) {
  const SamplingParams defaults;
  SamplingParams s;
  for (const char* bad : {"temperature -1",
                          "temperature nan",
                          "temperature inf",
                          "temperature 1e39",
                          "temperature 0.5x",
                          "temperature",
                          "temperature 1 2",
                          "top_p 0",
                          "top_p 1.5",
                          "min_p -0.1",
                          "top_k -1",
                          "top_k 2.5",
                          "top_k 99999999999",
                          "seed -1",
                          "seed 18446744073709551616",
                          "max_tokens 0",
                          "max_tokens 1001",
                          "max_tokens 1e3",
                          "repetition_penalty 0",
                          "warp_factor 9",
                          "",
                          "parameter"}) {
    EXPECT_NE(ApplySetting(bad, defaults, s, 1000), "") << bad;
  }
  EXPECT_FALSE(s.temperature || s.top_p || s.top_k || s.min_p || s.seed || s.repetition_penalty);
  EXPECT_EQ(s.max_new_tokens, defaults.max_new_tokens);
  EXPECT_NE(ApplySetting(std::string("top_k 4\0 2", 10), defaults, s, 1000), "");
  EXPECT_NE(ApplySetting(std::string(1 << 20, '9'), defaults, s, 1000), "");
  EXPECT_NE(ApplySetting("seed " + std::string(1 << 20, '9'), defaults, s, 1000), "");
  EXPECT_THAT(ApplySetting("warp_factor 9", defaults, s, 1000), HasSubstr("unknown option"));
}

}  // namespace
}  // namespace qwenvl::cli::chat
