// Interpreter behaviour that Python cannot be asked for in jinja_cases.json: which constructs are
// refused (and that the error names them and their line), malformed source, and the limits that
// keep hostile templates from exhausting time, memory or stack.
#include <gtest/gtest.h>

#include <string>

#include "text/jinja_lexer.h"
#include "text/jinja_template.h"
#include "text/jinja_value.h"
#include "util/error.h"

namespace qwenvl::text::jinja {
namespace {

std::string Render(const std::string& source, const RenderLimits& limits = {}) {
  Value context = Value::MakeDict();
  context.AsDict()->Set("xs", Value::MakeList({Value(1), Value(2), Value(3)}));
  return Template::Parse(source).Render(context, limits);
}

// Runs `source` and returns the error, failing the test if none is thrown.
Error RenderError(const std::string& source, const RenderLimits& limits = {}) {
  try {
    Render(source, limits);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error for: " << source;
  return Error(ErrorCode::kInternal, "");
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(Jinja, UnsupportedConstructsAreNamedWithTheirLine) {
  struct Case {
    const char* source;
    const char* construct;
  };
  const Case cases[] = {
      {"x\n{% macro greet(n) %}hi{% endmacro %}", "macro"},
      {"x\n{% include 'other.jinja' %}", "include"},
      {"x\n{% import 'm.jinja' as m %}", "import"},
      {"x\n{% extends 'base.jinja' %}", "extends"},
      {"x\n{% block body %}{% endblock %}", "block"},
      {"x\n{% call foo() %}{% endcall %}", "call"},
      {"x\n{% filter upper %}a{% endfilter %}", "filter"},
      {"x\n{% for x in xs recursive %}{% endfor %}", "recursive"},
      {"x\n{{ xs|batch(2) }}", "filter 'batch'"},
      {"x\n{{ 1 is prime }}", "test 'prime'"},
      {"x\n{{ '%s' % 1 }}", "printf-style"},
      {"x\n{% frobnicate %}", "frobnicate"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.source);
    Error e = RenderError(c.source);
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_TRUE(Contains(e.what(), "line 2")) << e.what();
    EXPECT_TRUE(Contains(e.what(), c.construct)) << e.what();
  }
}

TEST(Jinja, MalformedSourceIsASyntaxError) {
  const char* cases[] = {
      "{{ x",
      "{% if x %}",
      "{{ 'abc }}",
      "{# never closed",
      "{{ (1 }}",
      "{{ 1 ] }}",
      "{% for %}{% endfor %}",
      "{% if x %}{% endfor %}",
      "{{ }}",
      "{% raw %}abc",
      "{% break %}",
      "{{ 1 + }}",
      "{{ a.}}",
      "{{ 99999999999999999999 }}",
      "{{ '\\x4' }}",
  };
  for (const char* source : cases) {
    SCOPED_TRACE(source);
    Error e = RenderError(source);
    EXPECT_EQ(e.code(), ErrorCode::kCorruptFile) << e.what();
    EXPECT_TRUE(Contains(e.what(), "syntax error")) << e.what();
  }
}

TEST(Jinja, RuntimeErrorsCarryTheLine) {
  Error e = RenderError("a\nb\n{{ undefined_thing.attr }}");
  EXPECT_TRUE(Contains(e.what(), "line 3")) << e.what();
  EXPECT_TRUE(Contains(e.what(), "'undefined_thing' is undefined")) << e.what();
  e = RenderError("{{ raise_exception('custom message') }}");
  EXPECT_TRUE(Contains(e.what(), "custom message")) << e.what();
  e = RenderError("{{ xs|tojson }}{{ nope|tojson }}");
  EXPECT_TRUE(Contains(e.what(), "not JSON serializable")) << e.what();
  EXPECT_EQ(RenderError("{{ 9223372036854775807 + 1 }}").code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(RenderError("{% set a, b = xs %}").code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(RenderError("{% set x = 1 %}{% set x.y = 2 %}").code(), ErrorCode::kInvalidArgument);
}

TEST(Jinja, DeepNestingIsRefusedNotRecursedInto) {
  std::string parens = std::string(5000, '(') + "1" + std::string(5000, ')');
  EXPECT_EQ(RenderError("{{ " + parens + " }}").code(), ErrorCode::kOutOfRange);
  std::string ifs;
  for (int i = 0; i < 1000; ++i) ifs += "{% if true %}";
  EXPECT_EQ(RenderError(ifs).code(), ErrorCode::kOutOfRange);
  std::string nots = "{{ " + std::string(3000 * 4, ' ');
  for (int i = 0; i < 3000; ++i) nots.replace(3 + i * 4, 4, "not ");
  EXPECT_EQ(RenderError(nots + "1 }}").code(), ErrorCode::kOutOfRange);
  // A value nested by a loop is bounded too (printing or freeing it must not overflow the stack).
  EXPECT_EQ(RenderError("{% set ns = namespace(v=[]) %}{% for i in range(100000) %}"
                        "{% set ns.v = [ns.v] %}{% endfor %}{{ ns.v }}")
                .code(),
            ErrorCode::kOutOfRange);
}

TEST(Jinja, NamespacesCannotFormCycles) {
  EXPECT_EQ(RenderError("{% set ns = namespace(a=1) %}{% set ns.self = ns %}{{ ns }}").code(),
            ErrorCode::kUnsupported);
  EXPECT_EQ(RenderError("{% set ns = namespace() %}{% set ns.l = [ns] %}").code(),
            ErrorCode::kUnsupported);
}

TEST(Jinja, OutputAndWorkAreBounded) {
  RenderLimits small;
  small.max_output_bytes = 1 << 16;
  small.max_items = 1 << 12;
  small.max_steps = 100000;
  // String doubling, repetition, huge ranges, nested loops, and plain output all stop at a limit.
  const char* cases[] = {
      "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% "
      "endfor %}",
      "{{ 'x' * 100000000000 }}",
      "{{ [1] * 100000000000 }}",
      "{% for i in range(100000000000) %}{% endfor %}",
      "{% for a in range(4000) %}{% for b in range(4000) %}{% endfor %}{% endfor %}",
      "{% for a in range(4000) %}{{ 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy' }}{% endfor %}",
      "{{ ('a' * 60000)|replace('a', 'bb') }}",
  };
  for (const char* source : cases) {
    SCOPED_TRACE(source);
    EXPECT_EQ(RenderError(source, small).code(), ErrorCode::kOutOfRange);
  }
}

TEST(Jinja, UndefinedBehavesLikeJinjaUndefined) {
  EXPECT_EQ(
      Render(
          "[{{ nope }}][{{ nope is defined }}][{{ nope|length }}][{% for x in nope %}x{% endfor %}]"
          "[{{ 'a' in nope }}][{{ nope == nope }}][{{ not nope }}]"),
      "[][False][0][][False][True][True]");
}

TEST(Jinja, LexerAppliesTrimAndLstripBlocks) {
  std::vector<Token> tokens = Tokenize("  {% if x %}\n  a\n  {%- endif %}");
  ASSERT_GE(tokens.size(), 2u);
  EXPECT_EQ(tokens[0].kind, Token::Kind::kBlockBegin);  // the two leading spaces are gone
  bool found = false;
  for (const Token& t : tokens) {
    if (t.kind == Token::Kind::kText) {
      EXPECT_EQ(t.text, "  a");  // newline after %} trimmed, whitespace before {%- stripped
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(JinjaValue, FloatReprMatchesPython) {
  EXPECT_EQ(FloatRepr(1.0), "1.0");
  EXPECT_EQ(FloatRepr(0.1), "0.1");
  EXPECT_EQ(FloatRepr(-2.5), "-2.5");
  EXPECT_EQ(FloatRepr(1e16), "1e+16");
  EXPECT_EQ(FloatRepr(1e15), "1000000000000000.0");
  EXPECT_EQ(FloatRepr(0.0001), "0.0001");
  EXPECT_EQ(FloatRepr(0.00001), "1e-05");
  EXPECT_EQ(FloatRepr(1.5e300), "1.5e+300");
  EXPECT_EQ(FloatRepr(123456.789), "123456.789");
}

TEST(JinjaValue, ReprQuotesLikePython) {
  EXPECT_EQ(Repr(Value("it's")), "\"it's\"");
  EXPECT_EQ(Repr(Value("say \"hi\" it's")), "'say \"hi\" it\\'s'");
  EXPECT_EQ(Repr(Value("a\nb\\")), "'a\\nb\\\\'");
  EXPECT_EQ(Repr(Value::MakeList({Value(1)}, true)), "(1,)");
}

}  // namespace
}  // namespace qwenvl::text::jinja
