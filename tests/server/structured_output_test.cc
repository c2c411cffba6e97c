// The request fields that hold an answer to a language: each spelling, and a 400 naming the field
// for everything malformed, contradictory or unenforceable.
#include "server/structured_output.h"

#include <gtest/gtest.h>

#include "server/api_error.h"

namespace qwenvl::server {
namespace {

using json = nlohmann::ordered_json;
using Kind = OutputConstraint::Kind;

OutputConstraint Parse(const char* body) { return ParseOutputConstraint(json::parse(body)); }

TEST(StructuredOutput, EverySpellingGivesItsConstraint) {
  EXPECT_EQ(Parse("{}").kind, Kind::kNone);
  EXPECT_EQ(Parse(R"({"response_format":null})").kind, Kind::kNone);
  EXPECT_EQ(Parse(R"({"response_format":{"type":"text"}})").kind, Kind::kNone);
  EXPECT_EQ(Parse(R"({"response_format":{"type":"json_object"}})").kind, Kind::kJsonObject);
  EXPECT_EQ(Parse(R"({"response_format":{"type":"grounding"}})").kind, Kind::kGrounding);
  EXPECT_EQ(Parse(R"({"grounding":true})").kind, Kind::kGrounding);
  EXPECT_EQ(Parse(R"({"grounding":false})").kind, Kind::kNone);
  const auto schema =
      Parse(R"({"response_format":{"type":"json_schema","json_schema":{"name":"x","strict":true,
      "schema":{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],"additionalProperties":false}}}})");
  EXPECT_EQ(schema.kind, Kind::kJsonSchema);
  EXPECT_EQ(json::parse(schema.text)["properties"]["a"]["type"], "integer");
  EXPECT_EQ(Parse(R"({"response_format":{"type":"json_schema","json_schema":{"name":"x"}}})").text,
            "{}");
  EXPECT_EQ(Parse(R"({"guided_json":"{\"type\":\"string\"}"})").kind, Kind::kJsonSchema);
  EXPECT_EQ(Parse(R"({"json_schema":{"type":"string"}})").kind, Kind::kJsonSchema);
  const auto g = Parse(R"({"grammar":"root ::= \"yes\" | \"no\""})");
  EXPECT_EQ(g.kind, Kind::kGrammar);
  EXPECT_EQ(g.text, "root ::= \"yes\" | \"no\"");
  EXPECT_EQ(Parse(R"({"guided_grammar":"root ::= [a-z]+"})").kind, Kind::kGrammar);
}

void ExpectBad(const char* body, const std::string& param, const std::string& needle) {
  try {
    Parse(body);
    ADD_FAILURE() << "accepted " << body;
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400) << body;
    EXPECT_EQ(e.param(), param) << body << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(StructuredOutput, HostileFieldsAreRefusedByName) {
  ExpectBad(R"({"response_format":"json"})", "response_format", "an object");
  ExpectBad(R"({"response_format":{}})", "response_format.type", "string");
  ExpectBad(R"({"response_format":{"type":"xml"}})", "response_format.type", "'xml'");
  ExpectBad(R"({"response_format":{"type":"json_schema"}})", "response_format.json_schema",
            "object");
  ExpectBad(R"({"response_format":{"type":"json_schema","json_schema":{"schema":5}}})",
            "response_format.json_schema.schema", "JSON Schema");
  ExpectBad(
      R"({"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"integer","maximum":3}}}})",
      "response_format.json_schema.schema", "'maximum'");
  ExpectBad(
      R"({"response_format":{"type":"json_schema","json_schema":{"strict":"yes","schema":{}}}})",
      "response_format.json_schema.strict", "boolean");
  ExpectBad(R"({"grammar":42})", "grammar", "string");
  ExpectBad(R"({"grammar":"root ::= ("})", "grammar", "line 1");
  ExpectBad(R"({"grammar":"root ::= root \"x\""})", "grammar", "left-recursive");
  ExpectBad(R"({"guided_json":"{not json"})", "guided_json", "not JSON");
  ExpectBad(R"({"grounding":"yes"})", "grounding", "boolean");
  ExpectBad(R"({"response_format":{"type":"json_object"},"grammar":"root ::= \"a\""})", "grammar",
            "at most one");
  ExpectBad(R"({"grounding":true,"json_schema":{}})", "grounding", "at most one");
  // A huge grammar is refused by its size, not compiled for minutes.
  std::string huge = R"({"grammar":"root ::= )";
  for (int i = 0; i < 200; ++i) huge += R"(\"x\"{9000} )";
  huge += "\"}";
  ExpectBad(huge.c_str(), "grammar", "too large");
}

}  // namespace
}  // namespace qwenvl::server
