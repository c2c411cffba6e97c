// ollama request bodies (/api/chat, /api/generate, /api/show) into the server's requests: what each
// field becomes, and every malformed, mistyped, out-of-range or contradictory field refused with a
// 400 that names it.
#include "server/ollama_schema.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fake_engine_client.h"
#include "server/api_error.h"

namespace qwenvl::server {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

SchemaOptions Options() {
  SchemaOptions o;
  o.model_name = "m";
  o.context_length = 1000;
  o.max_media_items = 2;
  return o;
}

json Chat(json extra = json::object()) {
  json body = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  body.update(extra);
  return body;
}

json Generate(json extra = json::object()) {
  json body = {{"model", "m"}, {"prompt", "hi"}};
  body.update(extra);
  return body;
}

json WithOptions(json options) { return Chat({{"options", std::move(options)}}); }

const testing::FakeEngineClient& Engine() {
  static const testing::FakeEngineClient engine;
  return engine;
}

OllamaRequest ParseChat(const json& body) { return ParseOllamaChat(body.dump(), Options()); }
OllamaRequest ParseGenerate(const json& body) {
  return ParseOllamaGenerate(body.dump(), Options(), Engine());
}

// The ApiError a body raised (status 0: none).
template <class F>
ApiError ErrorOf(F parse) {
  try {
    parse();
  } catch (const ApiError& e) {
    return e;
  }
  return ApiError(0, "no error");
}
ApiError ChatError(const json& body) {
  return ErrorOf([&] { ParseChat(body); });
}
ApiError ChatError(const std::string& text) {
  return ErrorOf([&] { ParseOllamaChat(text, Options()); });
}
ApiError GenerateError(const json& body) {
  return ErrorOf([&] { ParseGenerate(body); });
}

// A 400 whose message names `field`.
void ExpectRefused(const ApiError& e, const std::string& field) {
  EXPECT_EQ(e.status(), 400) << e.what();
  EXPECT_THAT(e.what(), HasSubstr(field));
}

TEST(OllamaSchema, ChatMessagesWithImagesBeforeTheText) {
  const auto r =
      ParseChat(Chat({{"messages",
                       {{{"role", "system"}, {"content", "be brief"}},
                        {{"role", "user"}, {"content", "what?"}, {"images", {"AAEC"}}},
                        {{"role", "assistant"}, {"content", "a cat"}},
                        {{"role", "user"}, {"images", {"data:image/png;base64,AAEC"}}}}}}));
  EXPECT_FALSE(r.load);
  EXPECT_TRUE(r.chat.stream);  // ollama streams unless told not to
  EXPECT_EQ(r.chat.model, "m");
  const auto& m = r.chat.request.messages;
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].role, "system");
  EXPECT_EQ(m[0].content[0].text, "be brief");
  ASSERT_EQ(m[1].content.size(), 2u);
  EXPECT_EQ(m[1].content[0].type, ContentPart::Type::kMedia);
  EXPECT_EQ(m[1].content[0].media.bytes, (std::vector<uint8_t>{0, 1, 2}));
  EXPECT_EQ(m[1].content[1].text, "what?");
  EXPECT_EQ(m[2].role, "assistant");
  ASSERT_EQ(m[3].content.size(), 1u);  // only a picture: no empty text part
  EXPECT_EQ(m[3].content[0].media.bytes, (std::vector<uint8_t>{0, 1, 2}));
  EXPECT_FALSE(r.chat.request.prompt_ids);
  EXPECT_EQ(r.chat.request.constraint.kind, OutputConstraint::Kind::kNone);
}

TEST(OllamaSchema, NoMessagesIsALoadRequest) {
  EXPECT_TRUE(ParseChat({{"model", "m"}}).load);
  EXPECT_TRUE(ParseChat({{"model", "m"}, {"messages", json::array()}}).load);
  EXPECT_TRUE(ParseChat({{"model", "m"}, {"messages", nullptr}, {"keep_alive", 0}}).load);
  EXPECT_TRUE(ParseGenerate({{"model", "m"}}).load);
  EXPECT_TRUE(ParseGenerate({{"model", "m"}, {"prompt", ""}, {"keep_alive", "0"}}).load);
  // A load request's other fields are checked all the same.
  ExpectRefused(GenerateError({{"model", "m"}, {"options", {{"top_k", "x"}}}}), "options.top_k");
}

TEST(OllamaSchema, AnyModelNameIsServedButOneIsRequired) {
  EXPECT_EQ(ParseChat(Chat({{"model", "llava:13b"}})).chat.model, "llava:13b");
  ExpectRefused(ChatError(json{{"messages", json::array()}}), "model is required");
  ExpectRefused(ChatError(Chat({{"model", ""}})), "model is required");
  ExpectRefused(ChatError(Chat({{"model", 7}})), "model must be a string");
}

TEST(OllamaSchema, FormatJsonOrSchema) {
  EXPECT_EQ(ParseChat(Chat({{"format", "json"}})).chat.request.constraint.kind,
            OutputConstraint::Kind::kJsonObject);
  EXPECT_EQ(ParseChat(Chat({{"format", ""}})).chat.request.constraint.kind,
            OutputConstraint::Kind::kNone);
  const json schema = {
      {"type", "object"}, {"properties", {{"age", {{"type", "integer"}}}}}, {"required", {"age"}}};
  const auto c = ParseGenerate(Generate({{"format", schema}})).chat.request.constraint;
  EXPECT_EQ(c.kind, OutputConstraint::Kind::kJsonSchema);
  EXPECT_EQ(json::parse(c.text), schema);
  ExpectRefused(ChatError(Chat({{"format", "xml"}})), "format");
  ExpectRefused(ChatError(Chat({{"format", 3}})), "format");
  ExpectRefused(ChatError(Chat({{"format", {"json"}}})), "format");
}

TEST(OllamaSchema, OptionsBecomeSampling) {
  const auto s = ParseChat(WithOptions({{"temperature", 0.5},
                                        {"top_k", 20},
                                        {"top_p", 0.9},
                                        {"min_p", 0.05},
                                        {"seed", 42},
                                        {"num_predict", 100.0},  // an integral float is an int
                                        {"stop", {"\n", "user:"}},
                                        {"repeat_penalty", 1.2},
                                        {"presence_penalty", 1.5},
                                        {"frequency_penalty", -1.0}}))
                     .chat.request.sampling;
  EXPECT_FLOAT_EQ(*s.temperature, 0.5f);
  EXPECT_EQ(*s.top_k, 20);
  EXPECT_FLOAT_EQ(*s.top_p, 0.9f);
  EXPECT_FLOAT_EQ(*s.min_p, 0.05f);
  EXPECT_EQ(*s.seed, 42u);
  EXPECT_EQ(s.max_new_tokens, 100);
  EXPECT_EQ(s.stop, (std::vector<std::string>{"\n", "user:"}));
  EXPECT_FLOAT_EQ(*s.repetition_penalty, 1.2f);
  EXPECT_FLOAT_EQ(s.presence_penalty, 1.5f);
  EXPECT_FLOAT_EQ(s.frequency_penalty, -1.0f);
}

TEST(OllamaSchema, OptionsWithOllamasSpecialValues) {
  auto sampling = [](json options) {
    return ParseChat(WithOptions(options)).chat.request.sampling;
  };
  // num_predict -1 (and any value <= 0): until the end of turn or the context; beyond: capped.
  EXPECT_EQ(sampling({{"num_predict", -1}}).max_new_tokens, 1000);
  EXPECT_EQ(sampling({{"num_predict", -2}}).max_new_tokens, 1000);
  EXPECT_EQ(sampling({{"num_predict", 0}}).max_new_tokens, 1000);
  EXPECT_EQ(sampling({{"num_predict", 1000000}}).max_new_tokens, 1000);
  EXPECT_FALSE(sampling({{"seed", -1}}).seed);     // random
  EXPECT_EQ(*sampling({{"top_k", -1}}).top_k, 0);  // off
  // top_p 0 keeps the single most likely token, as llama.cpp does.
  const auto greedy = sampling({{"top_p", 0}});
  EXPECT_EQ(*greedy.top_k, 1);
  EXPECT_FALSE(greedy.top_p);
  EXPECT_EQ(sampling({{"stop", "END"}}).stop, (std::vector<std::string>{"END"}));
  // num_ctx above or below the server's context: accepted, the server's context applies.
  EXPECT_EQ(sampling({{"num_ctx", 131072}}).max_new_tokens, 512);
  // Documented options that mean nothing here, and keys ollama does not know: ignored.
  const auto ignored = sampling({{"num_gpu", 1},
                                 {"num_thread", 8},
                                 {"mirostat", 2},
                                 {"mirostat_tau", 5},
                                 {"use_mmap", true},
                                 {"typical_p", 0.7},
                                 {"repeat_last_n", 64},
                                 {"numa", false},
                                 {"no_such_option", "x"}});
  EXPECT_FALSE(ignored.temperature);
  EXPECT_EQ(ignored.max_new_tokens, 512);
}

TEST(OllamaSchema, WrongOptionTypesAndRangesAreRefused) {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"temperature", "hot"}}, "options.temperature must be a number"},
      {{{"temperature", -0.1}}, "options.temperature"},
      {{{"top_k", 2.5}}, "options.top_k must be an integer"},
      {{{"top_k", true}}, "options.top_k"},
      {{{"top_p", 1.5}}, "options.top_p"},
      {{{"min_p", -1}}, "options.min_p"},
      {{{"seed", 1e30}}, "options.seed"},
      {{{"seed", "42"}}, "options.seed"},
      {{{"num_predict", 1.5}}, "options.num_predict must be an integer"},
      {{{"num_predict", "100"}}, "options.num_predict"},
      {{{"num_ctx", 0}}, "options.num_ctx"},
      {{{"num_ctx", 1e12}}, "options.num_ctx"},
      {{{"repeat_penalty", 0}}, "options.repeat_penalty"},
      {{{"presence_penalty", 3}}, "options.presence_penalty"},
      {{{"frequency_penalty", nullptr}, {"stop", {1}}}, "options.stop[0] must be a string"},
      {{{"stop", {""}}}, "options.stop[0] must not be empty"},
      {{{"stop", json(std::vector<std::string>(17, "x"))}}, "options.stop"},
      {{{"stop", 5}}, "options.stop"},
      {{{"num_gpu", "all"}}, "options.num_gpu must be an integer"},
      {{{"use_mmap", 1}}, "options.use_mmap must be a boolean"},
      {{{"mirostat_tau", "x"}}, "options.mirostat_tau must be a number"},
  };
  for (const auto& [options, message] : cases) {
    ExpectRefused(ChatError(WithOptions(options)), message);
  }
  ExpectRefused(ChatError(Chat({{"options", {1, 2}}})), "options must be an object");
  ExpectRefused(ChatError(Chat({{"options", "fast"}})), "options must be an object");
}

TEST(OllamaSchema, TopLevelWrongTypesAndUnsupportedFields) {
  ExpectRefused(ChatError(std::string("{oops")), "not valid JSON");
  ExpectRefused(ChatError(std::string("[1, 2]")), "body must be a JSON object");
  ExpectRefused(ChatError(std::string("")), "not valid JSON");
  ExpectRefused(ChatError(Chat({{"stream", "yes"}})), "stream must be a boolean");
  ExpectRefused(ChatError(Chat({{"messages", "hi"}})), "messages must be a list");
  ExpectRefused(ChatError(Chat({{"messages", {"hi"}}})), "messages[0] must be an object");
  ExpectRefused(ChatError(Chat({{"messages", {{{"content", "hi"}}}}})), "messages[0].role");
  ExpectRefused(ChatError(Chat({{"messages", {{{"role", "robot"}, {"content", "hi"}}}}})),
                "messages[0].role");
  ExpectRefused(ChatError(Chat({{"messages", {{{"role", "user"}, {"content", {"hi"}}}}}})),
                "messages[0].content must be a string");
  ExpectRefused(ChatError(Chat({{"messages", {{{"role", "tool"}, {"content", "42"}}}}})),
                "tool messages are not supported");
  ExpectRefused(ChatError(Chat({{"messages",
                                 {{{"role", "assistant"},
                                   {"content", ""},
                                   {"tool_calls", {{{"function", {{"name", "f"}}}}}}}}}})),
                "messages[0].tool_calls");
  ExpectRefused(ChatError(Chat({{"messages", {{{"role", "assistant"}, {"thinking", 3}}}}})),
                "messages[0].thinking must be a string");
  ExpectRefused(ChatError(Chat({{"tools", {{{"type", "function"}}}}})), "tools are not supported");
  ExpectRefused(ChatError(Chat({{"tools", "all"}})), "tools must be a list");
  EXPECT_EQ(ChatError(Chat({{"tools", json::array()}})).status(), 0);
  ExpectRefused(ChatError(Chat({{"think", true}})), "does not support thinking");
  ExpectRefused(ChatError(Chat({{"think", "high"}})), "does not support thinking");
  ExpectRefused(ChatError(Chat({{"think", 1}})), "think must be");
  EXPECT_EQ(ChatError(Chat({{"think", false}})).status(), 0);
  ExpectRefused(ChatError(Chat({{"logprobs", true}})), "logprobs");
  ExpectRefused(ChatError(Chat({{"top_logprobs", 5}})), "top_logprobs");
  // Fields ollama does not know are ignored, as ollama's decoder does.
  EXPECT_EQ(ChatError(Chat({{"truncate", true}, {"shift", false}})).status(), 0);
}

TEST(OllamaSchema, KeepAliveIsCheckedAndIgnored) {
  for (const json& ok : std::vector<json>{"5m", "1h30m", "-1s", "0", "300ms", "1.5h", "10s",
                                          "2h45m30.5s", "-1", "3600", 0, -1, 300.5, nullptr}) {
    EXPECT_EQ(ChatError(Chat({{"keep_alive", ok}})).status(), 0) << ok.dump();
  }
  for (const json& bad : std::vector<json>{"forever", "5 m", "m", "", "5x", "1.2.3s", "--1s", true,
                                           json::object(), json::array()}) {
    ExpectRefused(ChatError(Chat({{"keep_alive", bad}})), "keep_alive");
  }
}

TEST(OllamaSchema, ImagesAreBase64AndBounded) {
  ExpectRefused(ChatError(Chat({{"messages", {{{"role", "user"}, {"images", {"@@@"}}}}}})),
                "messages[0].images[0]");
  ExpectRefused(ChatError(Chat({{"messages", {{{"role", "user"}, {"images", {""}}}}}})),
                "messages[0].images[0] is empty");
  ExpectRefused(ChatError(Chat({{"messages", {{{"role", "user"}, {"images", {7}}}}}})),
                "messages[0].images[0] must be a base64 string");
  ExpectRefused(ChatError(Chat({{"messages", {{{"role", "user"}, {"images", "AAEC"}}}}})),
                "messages[0].images must be a list");
  ExpectRefused(
      ChatError(Chat({{"messages", {{{"role", "user"}, {"images", {"http://x/a.png"}}}}}})),
      "not a URL");
  ExpectRefused(ChatError(Chat({{"messages", {{{"role", "user"}, {"images", {"data:,abc"}}}}}})),
                "messages[0].images[0]");
  // At most max_media_items pictures in the whole conversation.
  ExpectRefused(ChatError(Chat({{"messages",
                                 {{{"role", "user"}, {"images", {"AAEC", "AAEC"}}},
                                  {{"role", "user"}, {"images", {"AAEC"}}}}}})),
                "too many images");
  ExpectRefused(GenerateError(Generate({{"images", {"AAEC", "AAEC", "AAEC"}}})), "too many images");
}

TEST(OllamaSchema, GeneratePromptSystemAndImages) {
  const auto r =
      ParseGenerate(Generate({{"system", "be brief"}, {"images", {"AAEC"}}, {"stream", false}}));
  EXPECT_FALSE(r.chat.stream);
  EXPECT_FALSE(r.return_context);  // a conversation with pictures cannot be token ids
  const auto& m = r.chat.request.messages;
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].role, "system");
  EXPECT_EQ(m[0].content[0].text, "be brief");
  EXPECT_EQ(m[1].role, "user");
  ASSERT_EQ(m[1].content.size(), 2u);
  EXPECT_EQ(m[1].content[0].media.bytes, (std::vector<uint8_t>{0, 1, 2}));
  EXPECT_EQ(m[1].content[1].text, "hi");
  EXPECT_TRUE(ParseGenerate(Generate()).return_context);
}

TEST(OllamaSchema, GenerateRawTokenizesThePromptAsItIs) {
  const auto r = ParseGenerate(Generate({{"prompt", "<x>"}, {"raw", true}}));
  ASSERT_TRUE(r.chat.request.prompt_ids);
  EXPECT_EQ(*r.chat.request.prompt_ids, (std::vector<TokenId>{'<', 'x', '>'}));
  EXPECT_TRUE(r.chat.request.messages.empty());
  EXPECT_FALSE(r.return_context);  // as ollama: raw mode returns no context
  const auto continued =
      ParseGenerate(Generate({{"prompt", "b"}, {"raw", true}, {"context", {97}}}));
  EXPECT_EQ(*continued.chat.request.prompt_ids, (std::vector<TokenId>{'a', 'b'}));
}

TEST(OllamaSchema, GenerateContextThenTheTemplatedTurn) {
  const auto r = ParseGenerate(Generate({{"context", {65, 66}}}));
  ASSERT_TRUE(r.chat.request.prompt_ids);
  // The fake template renders "user:hi\n"; its tokens are its bytes.
  const std::string expected = "ABuser:hi\n";
  EXPECT_EQ(*r.chat.request.prompt_ids, std::vector<TokenId>(expected.begin(), expected.end()));
  EXPECT_TRUE(r.chat.request.messages.empty());
  EXPECT_TRUE(r.return_context);
}

TEST(OllamaSchema, GenerateRefusesWhatItCannotHonour) {
  ExpectRefused(GenerateError(Generate({{"suffix", "    return result"}})), "suffix");
  EXPECT_EQ(GenerateError(Generate({{"suffix", ""}})).status(), 0);
  ExpectRefused(GenerateError(Generate({{"template", "{{ .Prompt }}"}})), "template");
  ExpectRefused(GenerateError(Generate({{"raw", true}, {"images", {"AAEC"}}})), "images");
  ExpectRefused(GenerateError(Generate({{"raw", true}, {"system", "x"}})), "system");
  ExpectRefused(GenerateError(Generate({{"context", {65}}, {"images", {"AAEC"}}})), "images");
  ExpectRefused(GenerateError(Generate({{"raw", "yes"}})), "raw must be a boolean");
  ExpectRefused(GenerateError(Generate({{"prompt", 5}})), "prompt must be a string");
  ExpectRefused(GenerateError(Generate({{"system", {"x"}}})), "system must be a string");
  ExpectRefused(GenerateError(Generate({{"images", "AAEC"}})), "images must be a list");
  ExpectRefused(GenerateError(Generate({{"context", "1,2"}})), "context must be a list");
  ExpectRefused(GenerateError(Generate({{"context", {1.5}}})), "context[0] must be an integer");
  ExpectRefused(GenerateError(Generate({{"context", {-1}}})), "context[0]");
  // The fake tokenizer's tokens are bytes: 300 is none of them.
  ExpectRefused(GenerateError(Generate({{"context", {65, 300}}})),
                "context[1]: 300 is not a token");
  ExpectRefused(GenerateError(Generate({{"context", json(std::vector<int>(1001, 65))}})),
                "context");
}

TEST(OllamaSchema, ShowNamesTheModel) {
  EXPECT_EQ(ParseOllamaShow(R"({"model": "a:latest"})"), "a:latest");
  EXPECT_EQ(ParseOllamaShow(R"({"name": "b"})"), "b");  // older clients
  ExpectRefused(ErrorOf([] { ParseOllamaShow("{}"); }), "model is required");
  ExpectRefused(ErrorOf([] { ParseOllamaShow("nope"); }), "not valid JSON");
  ExpectRefused(ErrorOf([] { ParseOllamaShow(R"({"model": 1})"); }), "model must be a string");
  ExpectRefused(ErrorOf([] { ParseOllamaShow(R"({"model": "a", "verbose": "y"})"); }), "verbose");
}

}  // namespace
}  // namespace qwenvl::server
