// Function calling: the request in the model's prompt format, the answers' calls back as OpenAI
// tool_calls (whole and streamed in random pieces), the constraint of tool_choice, and a 400 for
// every malformed tools field.
#include "server/tool_calls.h"

#include <gtest/gtest.h>

#include <random>

#include "grammar/gbnf.h"
#include "grammar/matcher.h"
#include "server/api_error.h"
#include "server/openai_schema.h"

namespace qwenvl::server {
namespace {

using json = nlohmann::ordered_json;

SchemaOptions Options() {
  SchemaOptions o;
  o.model_name = "m";
  return o;
}

const char* kWeather =
    R"({"type":"function","function":{"name":"get_weather","description":"Weather of a city",
  "parameters":{"type":"object","properties":{"city":{"type":"string"},"unit":{"enum":["C","F"]}},"required":["city"],"additionalProperties":false}}})";

TEST(ToolCalls, TheConversationTakesTheModelsFormat) {
  const auto body =
      json::parse(std::string(R"({"model":"m","tools":[)") + kWeather + R"(],"messages":[
    {"role":"user","content":"Weather in Paris?"},
    {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
    {"role":"tool","tool_call_id":"call_1","content":"18 C, sunny"},
    {"role":"tool","tool_call_id":"call_2","content":"second"}]})");
  const ChatRequest chat = ParseChatRequest(body.dump(), Options());
  EXPECT_TRUE(chat.tool_calls);
  EXPECT_EQ(chat.request.constraint.kind, OutputConstraint::Kind::kNone);  // auto: free
  const auto& msgs = chat.request.messages;
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(msgs[0].role, "system");
  EXPECT_NE(msgs[0].content[0].text.find("You are a helpful assistant.\n\n# Tools"),
            std::string::npos);
  EXPECT_NE(msgs[0].content[0].text.find(
                "<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
                "\"description\": \"Weather of a city\", \"parameters\": {\"type\": \"object\""),
            std::string::npos)
      << msgs[0].content[0].text;
  EXPECT_EQ(msgs[2].role, "assistant");
  EXPECT_EQ(msgs[2].content[0].text,
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
            "\"Paris\"}}\n</tool_call>");
  EXPECT_EQ(msgs[3].role, "user");
  EXPECT_EQ(
      msgs[3].content[0].text,
      "<tool_response>\n18 C, sunny\n</tool_response>\n<tool_response>\nsecond\n</tool_response>");
}

TEST(ToolCalls, AnswersSplitIntoContentAndCalls) {
  const auto a = ParseToolCalls(
      "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Paris\"}}\n</tool_call>\n"
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": "
      "\\\"Rome\\\"}\"}\n</tool_call>");
  EXPECT_EQ(a.content, "Let me check.");
  ASSERT_EQ(a.calls.size(), 2u);
  EXPECT_EQ(a.calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(a.calls[0].arguments)["city"], "Paris");
  EXPECT_EQ(json::parse(a.calls[1].arguments)["city"], "Rome");
  EXPECT_EQ(a.calls[0].id.rfind("call_", 0), 0u);
  EXPECT_NE(a.calls[0].id, a.calls[1].id);
  // Not calls: left as text.
  for (const char* text : {"<tool_call>\nnot json\n</tool_call>",
                           "<tool_call>{\"name\": 1, \"arguments\": {}}</tool_call>",
                           "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}", "plain"}) {
    const auto p = ParseToolCalls(text);
    EXPECT_TRUE(p.calls.empty()) << text;
    EXPECT_EQ(p.content, text);
  }
}

// Streamed in random pieces, the same calls and the same text come out as from the whole answer.
TEST(ToolCalls, StreamedInAnyPiecesGivesTheWholeAnswersSplit) {
  const std::string answer =
      "Sure <tool <tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": [1, "
      "\"</tool\"]}}\n</tool_call>\n"
      "<tool_call>\nbroken\n</tool_call> end <tool_c";
  std::mt19937 rng(5);
  for (int trial = 0; trial < 300; ++trial) {
    ToolCallStream stream;
    std::vector<ToolCall> calls;
    std::string text;
    for (size_t pos = 0; pos < answer.size();) {
      const size_t n = 1 + rng() % 7;
      text += stream.Push(std::string_view(answer).substr(pos, n), &calls);
      pos += n;
    }
    text += stream.Flush(&calls);
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(json::parse(calls[0].arguments)["x"][1], "</tool");
    EXPECT_EQ(text, "Sure <tool \n<tool_call>\nbroken\n</tool_call> end <tool_c");
  }
}

TEST(ToolCalls, RequiredAndNamedChoicesConstrainTheAnswerToValidCalls) {
  const auto body =
      json::parse(std::string(R"({"tools":[)") + kWeather +
                  R"(,{"type":"function","function":{"name":"now"}}],"tool_choice":"required"})");
  const auto tools = ParseTools(body);
  ASSERT_TRUE(tools);
  const OutputConstraint c = ToolCallConstraint(*tools);
  ASSERT_EQ(c.kind, OutputConstraint::Kind::kGrammar);
  std::vector<std::string> bytes;
  for (int b = 0; b < 256; ++b) bytes.push_back(std::string(1, static_cast<char>(b)));
  bytes.push_back("");
  auto vocab = std::make_shared<grammar::TokenVocabulary>(bytes, std::vector<TokenId>{256});
  grammar::CompiledGrammar g(grammar::ParseGbnf(c.text), vocab);
  const auto matches = [&](const std::string& text) {
    const int32_t s = g.Advance(g.initial_state(), text);
    return s != grammar::CompiledGrammar::kDead && g.CanEnd(s);
  };
  const std::string paris =
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": "
      "\"C\"}}\n</tool_call>";
  EXPECT_TRUE(matches(paris));
  EXPECT_TRUE(
      matches(paris + "\n<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>"));
  EXPECT_FALSE(matches("Sure! " + paris));
  EXPECT_FALSE(matches(
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"unit\": \"C\"}}\n</tool_call>"));
  EXPECT_FALSE(matches("<tool_call>\n{\"name\": \"other\", \"arguments\": {}}\n</tool_call>"));
  // Every call the constraint admits parses back.
  EXPECT_EQ(ParseToolCalls(paris).calls.size(), 1u);

  auto named = json::parse(
      std::string(R"({"tools":[)") + kWeather +
      R"(,{"type":"function","function":{"name":"now"}}],"tool_choice":{"type":"function","function":{"name":"now"}}})");
  const OutputConstraint n = ToolCallConstraint(*ParseTools(named));
  grammar::CompiledGrammar gn(grammar::ParseGbnf(n.text), vocab);
  const int32_t s = gn.Advance(gn.initial_state(),
                               "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>");
  EXPECT_TRUE(s != grammar::CompiledGrammar::kDead && gn.CanEnd(s));
  EXPECT_EQ(gn.Advance(gn.initial_state(), "<tool_call>\n{\"name\": \"get_weather\""),
            grammar::CompiledGrammar::kDead);
}

void ExpectBad(const std::string& fields, const std::string& param, const std::string& needle) {
  const std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"hi"}])" + fields + "}";
  try {
    ParseChatRequest(body, Options());
    ADD_FAILURE() << "accepted " << fields;
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400) << fields;
    EXPECT_EQ(e.param(), param) << fields << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(ToolCalls, MalformedToolFieldsAreRefusedByName) {
  ExpectBad(R"(,"tools":{})", "tools", "list");
  ExpectBad(R"(,"tools":[1])", "tools[0]", "function");
  ExpectBad(R"(,"tools":[{"type":"function"}])", "tools[0].function", "object");
  // A "type" that is not a string (found by the fuzzer: it escaped as a JSON library exception).
  ExpectBad(R"(,"tools":[{"type":{"name":"f"},"function":{"name":"f"}}])", "tools[0]", "function");
  ExpectBad(R"(,"tools":[{"type":7,"function":{"name":"f"}}])", "tools[0]", "function");
  ExpectBad(
      R"(,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":["function"],"function":{"name":"f"}})",
      "tool_choice", "tool_choice must be");
  ExpectBad(R"(,"tools":[{"type":"function","function":{"name":"bad name"}}])",
            "tools[0].function.name", "letters");
  ExpectBad(
      R"(,"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}])",
      "tools[1].function.name", "two tools");
  ExpectBad(R"(,"tools":[{"type":"function","function":{"name":"f","parameters":"x"}}])",
            "tools[0].function.parameters", "JSON Schema");
  ExpectBad(
      R"(,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"integer","minimum":0}}}])",
      "tools[0].function.parameters", "'minimum'");
  ExpectBad(R"(,"tool_choice":"required")", "tool_choice", "no tools");
  ExpectBad(R"(,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"always")",
            "tool_choice", "'always'");
  ExpectBad(
      R"(,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}})",
      "tool_choice", "not in tools");
  ExpectBad(
      R"(,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required","response_format":{"type":"json_object"})",
      "tool_choice", "cannot be combined");
  ExpectBad(R"(,"parallel_tool_calls":"yes")", "parallel_tool_calls", "boolean");
  const std::string many = [] {
    std::string t = R"(,"tools":[)";
    for (int i = 0; i < 200; ++i)
      t += std::string(i ? "," : "") + R"({"type":"function","function":{"name":"f)" +
           std::to_string(i) + R"("}})";
    return t + "]";
  }();
  ExpectBad(many, "tools", "at most");
  // Messages: a tool message with a picture, an assistant call that is not one.
  const std::string pic = R"(data:image/png;base64,iVBORw0KGgo=)";
  const std::string bad_tool =
      R"({"model":"m","messages":[{"role":"tool","content":[{"type":"image_url","image_url":{"url":")" +
      pic + R"("}}]}]})";
  EXPECT_THROW(ParseChatRequest(bad_tool, Options()), ApiError);
  EXPECT_THROW(
      ParseChatRequest(
          R"({"messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"[1]"}}]}]})",
          Options()),
      ApiError);
}

}  // namespace
}  // namespace qwenvl::server
