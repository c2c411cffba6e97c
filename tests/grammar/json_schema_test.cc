// JSON Schema to grammar: documents that validate are sentences, documents that do not are not,
// and every keyword that cannot be enforced is refused by name.
#include "grammar/json_schema.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "grammar_test_util.h"
#include "qwenvl/error.h"

namespace qwenvl::grammar {
namespace {

using testing::Compile;
using testing::Matches;

struct Case {
  const char* schema;
  std::vector<const char*> valid;
  std::vector<const char*> invalid;
};

TEST(JsonSchema, AcceptsWhatValidatesAndNothingElse) {
  const std::vector<Case> cases = {
      {R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name"],"additionalProperties":false})",
       {R"({"name":"Ann"})", R"({"name": "Ann", "age": 31})",
        "{\n  \"name\": \"A\\\"nn\",\n  \"age\": -4\n}"},
       {R"({})", R"({"age":3})", R"({"name":"Ann","age":3.5})", R"({"name":"Ann","x":1})",
        R"({"age":3,"name":"Ann"})", R"({"name":3})"}},
      {R"({"type":"array","items":{"type":"number"},"minItems":1,"maxItems":3})",
       {"[1]", "[1, 2.5, -3e10]", "[0.0,1E+2,2]"},
       {"[]", "[1,2,3,4]", "[01]", "[1.]", "[\"1\"]"}},
      {R"({"enum":["red","green",3,null]})",
       {R"("red")", "3", "null"},
       {R"("blue")", "4", "\"Red\""}},
      {R"({"const":{"a":[1,true]}})", {R"({"a":[1,true]})"}, {R"({"a":[1,false]})"}},
      {R"({"anyOf":[{"type":"string","maxLength":2},{"type":"boolean"}]})",
       {R"("ab")", "true"},
       {R"("abc")", "1"}},
      {R"({"type":["string","null"]})", {R"("x")", "null"}, {"1"}},
      {R"({"type":"string","pattern":"^[A-Z]{2}-\\d{3}$"})",
       {R"("AB-123")"},
       {R"("AB-12")", R"("ab-123")"}},
      {R"({"type":"string","pattern":"a(b|cd)*\\.\"e"})",
       {R"("a.\"e")", R"("abcdb.\"e")"},
       {R"("ac.\"e")"}},
      {R"({"type":"string","format":"date-time"})",
       {R"("2026-12-06T21:52:32Z")", R"("2026-01-31T00:00:00.5+01:00")"},
       {R"("2026-13-01T00:00:00Z")"}},
      {R"({"type":"string","format":"uuid"})",
       {R"("123e4567-e89b-12d3-a456-426614174000")"},
       {R"("123e4567")"}},
      {R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"next":{"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]}},"required":["v","next"],"additionalProperties":false}},"$ref":"#/$defs/node"})",
       {R"({"v":1,"next":{"v":2,"next":null}})"},
       {R"({"v":1,"next":{"v":2}})"}},
      {R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"},"c":{"type":"integer"}},"required":["b"],"additionalProperties":false})",
       {R"({"b":1})", R"({"a":1,"b":2})", R"({"b":1,"c":2})", R"({"a":1,"b":2,"c":3})"},
       {R"({"a":1})", R"({"a":1,"c":3})", R"({"c":1,"b":2})", R"({"b":1,})"}},
      {R"({"type":"object","properties":{"a":{"type":"integer"}}})",
       {R"({"a":1})", "{}"},
       {R"({"a":"x"})", R"({"other":1})"}},
      {R"({"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}})",
       {R"({"a":1,"zz":"s"})", R"({"other":"1"})"},
       {R"({"b":1})"}},
      {R"({"type":"object"})", {R"({"x":[1,{"y":null}]})", "{}"}, {"[]"}},
      {R"({"type":"array","prefixItems":[{"type":"integer"},{"type":"string"}],"items":false})",
       {R"([1,"a"])"},
       {R"([1])", R"([1,"a",2])"}},
      {"{}", {"1", R"({"a":[null]})", R"("s")"}, {"nul", "[1,]"}},
      // Found by fuzzing: listed properties, additionalProperties absent, a recursive reference.
      {R"({"$defs":{"n":{"anyOf":[{"type":"null"},{"type":"object","properties":{"next":{"$ref":"#/$defs/n"}}}]}},"$ref":"#/$defs/n"})",
       {"null", R"({"next":{"next":null}})", "{}"},
       {R"({"other":1})"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.schema);
    auto g = Compile(JsonSchemaToGbnf(c.schema));
    for (const char* doc : c.valid) EXPECT_TRUE(Matches(*g, doc)) << doc;
    for (const char* doc : c.invalid) EXPECT_FALSE(Matches(*g, doc)) << doc;
  }
}

TEST(JsonSchema, UnsupportedOrMalformedSchemasAreRefusedByName) {
  const std::vector<std::pair<const char*, const char*>> bad = {
      {"not json", "not JSON"},
      {R"({"type":"integer","minimum":3})", "'minimum'"},
      {R"({"type":"array","uniqueItems":true})", "'uniqueItems'"},
      {R"({"not":{}})", "'not'"},
      {R"({"type":"strnig"})", "unknown type 'strnig'"},
      {R"({"type":"object","required":["x"]})", "'x' is not in 'properties'"},
      {R"({"$ref":"#/$defs/missing"})", "points nowhere"},
      {R"({"$ref":"http://example.com/s.json"})", "only local $ref"},
      {R"({"type":"string","format":"hostname-ish"})", "format 'hostname-ish'"},
      {R"({"type":"string","pattern":"(a)\\1"})", "backreferences"},
      {R"x({"type":"string","pattern":"(?=a)"})x", "lookaround"},
      {R"({"type":"array","minItems":5,"maxItems":2})", "below 'minItems'"},
      {R"({"type":"array","maxItems":-1})", "non-negative"},
      {R"({"enum":[]})", "non-empty"},
      {"false", "matches nothing"},
      {"[1]", "an object or a boolean"},
  };
  for (const auto& [schema, needle] : bad) {
    try {
      JsonSchemaToGbnf(schema);
      ADD_FAILURE() << "accepted: " << schema;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
  // Deep nesting is bounded, not a stack overflow.
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += R"({"type":"array","items":)";
  deep += "{}" + std::string(5000, '}');
  EXPECT_THROW(JsonSchemaToGbnf(deep), Error);
}

// Random answers drawn token by token from the masks always parse as JSON of the schema's shape,
// over a vocabulary of bytes and multi-byte JSON pieces.
TEST(JsonSchema, RandomConstrainedAnswersParseAndValidate) {
  const char* schema = R"({"type":"object","properties":{"label":{"type":"string","maxLength":8},
    "box":{"type":"array","items":{"type":"integer"},"minItems":4,"maxItems":4},
    "ok":{"type":"boolean"}},"required":["label","box"],"additionalProperties":false})";
  auto vocab = testing::ByteVocabulary({"{\"", "\":", "\", \"", "label", "box", "\": [", ", ", "]}",
                                        "true", "é", "\"}", "12", " ", "\n  "});
  auto g = Compile(JsonSchemaToGbnf(schema), vocab);
  std::mt19937 rng(11);
  int completed = 0;
  for (int trial = 0; trial < 200; ++trial) {
    GrammarMatcher m(g);
    std::string text;
    for (int step = 0; step < 200; ++step) {
      const auto mask = m.Mask();
      std::vector<TokenId> allowed;
      for (size_t id = 0; id < vocab->size(); ++id)
        if (mask->Test(static_cast<TokenId>(id))) allowed.push_back(static_cast<TokenId>(id));
      ASSERT_FALSE(allowed.empty()) << text;
      // Prefer ending once allowed, so that answers finish.
      const TokenId end = vocab->end_tokens()[0];
      const bool can_end = mask->Test(end);
      const TokenId pick = can_end && rng() % 2 ? end : allowed[rng() % allowed.size()];
      ASSERT_TRUE(m.Accept(pick));
      if (pick == end) break;
      text += vocab->bytes(pick);
    }
    if (!m.ended()) continue;
    ++completed;
    const auto doc = nlohmann::json::parse(text);  // throws on invalid JSON
    ASSERT_TRUE(doc.is_object()) << text;
    ASSERT_TRUE(doc.contains("label") && doc["label"].is_string()) << text;
    EXPECT_LE(doc["label"].get<std::string>().size(), 8u * 4) << text;
    ASSERT_TRUE(doc.contains("box") && doc["box"].is_array() && doc["box"].size() == 4) << text;
    for (const auto& v : doc["box"]) EXPECT_TRUE(v.is_number_integer()) << text;
    for (const auto& [k, _] : doc.items())
      EXPECT_TRUE(k == "label" || k == "box" || k == "ok") << text;
  }
  EXPECT_GT(completed, 20);
}

TEST(JsonSchema, GroundingAnswersParse) {
  auto g = Compile(GroundingGbnf());
  EXPECT_TRUE(Matches(*g, R"([{"bbox_2d": [10, 20, 300, 400], "label": "red circle"}])"));
  EXPECT_TRUE(Matches(*g, "```json\n[{\"point_2d\": [5, 6], \"label\": \"cup\"}]\n```"));
  EXPECT_TRUE(Matches(*g, "[]"));
  EXPECT_FALSE(Matches(*g, R"([{"bbox_2d": [10, 20, 300], "label": "x"}])"));
  EXPECT_FALSE(Matches(*g, R"([{"bbox_2d": [1.5, 2, 3, 4], "label": "x"}])"));
  EXPECT_FALSE(Matches(*g, "```json\n[]"));
}

}  // namespace
}  // namespace qwenvl::grammar
