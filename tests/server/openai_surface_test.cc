// The OpenAI surface beyond one chat answer, end to end against the scripted FakeEngineClient:
// model names, /v1/completions, logprobs (whole and streamed), n choices, and the tokenizer
// endpoints, each with its hostile requests.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "server_fixture.h"

namespace qwenvl::server {
namespace {

using nlohmann::json;
using testing::FakeEngineClient;
using testing::Fetch;
using ::testing::HasSubstr;
using testing::Reply;
using testing::ServerTest;
using ::testing::StartsWith;
using testing::TestConnection;
using namespace std::chrono_literals;

class SurfaceTest : public ServerTest {
 protected:
  std::optional<Reply> Post(const std::string& path, const json& body,
                            std::map<std::string, std::string> headers = {}) {
    return Fetch(port_, "POST", path, body.dump(), std::move(headers));
  }
  std::optional<Reply> Complete(const json& body) { return Post("/v1/completions", body); }
  // The reply's JSON, once its status was checked.
  static json Body(const std::optional<Reply>& r, int status = 200) {
    EXPECT_TRUE(r);
    if (!r) return json();
    EXPECT_EQ(r->status, status) << r->body;
    return json::parse(r->body, nullptr, false);
  }
  static void ExpectError(const std::optional<Reply>& r, int status, const std::string& param) {
    const json j = Body(r, status);
    ASSERT_TRUE(j.contains("error")) << (r ? r->body : "");
    EXPECT_EQ(j["error"]["param"], param) << r->body;
    EXPECT_TRUE(j["error"]["message"].is_string());
  }
  // The events of a stream, [DONE] last, and nothing after it.
  static std::vector<json> StreamOf(const std::optional<Reply>& r) {
    EXPECT_TRUE(r);
    if (!r) return {};
    EXPECT_EQ(r->status, 200) << r->body;
    auto events = Events(r->body);
    EXPECT_FALSE(events.empty());
    if (!events.empty()) {
      EXPECT_EQ(events.back(), "[DONE]");
    }
    return events;
  }
  static std::vector<std::string> Pieces() { return {"Hello", ", ", "world", "!"}; }
};

// --- Model names -----------------------------------------------------------------------------

TEST_F(SurfaceTest, WithoutServedNamesAnyModelNameIsAcceptedAndEchoed) {
  StartServer();
  const json models = Body(Get("/v1/models"));
  ASSERT_EQ(models["data"].size(), 1u);
  EXPECT_EQ(models["data"][0]["id"], "fake-model");
  EXPECT_EQ(models["data"][0]["root"], "fake-model");
  EXPECT_EQ(models["data"][0]["max_model_len"], 4096);
  json body = Simple();
  body["model"] = "Qwen/Qwen2.5-VL-3B-Instruct";
  EXPECT_EQ(Body(Chat(body))["model"], "Qwen/Qwen2.5-VL-3B-Instruct");
  body.erase("model");
  EXPECT_EQ(Body(Chat(body))["model"], "fake-model");
  EXPECT_EQ(Body(Complete({{"model", "gpt-3.5-turbo-instruct"}, {"prompt", "hi"}}))["model"],
            "gpt-3.5-turbo-instruct");
  // Every id is served, under that id (clients escape the '/' of "org/name"; some do not).
  EXPECT_EQ(Body(Get("/v1/models/Qwen%2FQwen2.5-VL-3B-Instruct"))["id"],
            "Qwen/Qwen2.5-VL-3B-Instruct");
  EXPECT_EQ(Body(Get("/v1/models/Qwen/Qwen2.5-VL-3B-Instruct"))["id"],
            "Qwen/Qwen2.5-VL-3B-Instruct");
  const json one = Body(Get("/v1/models/anything"));
  EXPECT_EQ(one["object"], "model");
  EXPECT_EQ(one["root"], "fake-model");
  ExpectError(Get("/v1/models/"), 400, "model");
  ExpectError(Get("/v1/models/bad%zzescape"), 400, "model");
  EXPECT_EQ(Fetch(port_, "POST", "/v1/models/x", "{}")->status, 405);
  EXPECT_EQ(Fetch(port_, "DELETE", "/v1/models")->status, 405);
}

TEST_F(SurfaceTest, ServedNamesAreTheOnlyOnesAccepted) {
  ServerOptions o;
  o.served_model_names = {"qwen", "Qwen/Qwen2.5-VL-3B-Instruct"};
  StartServer(o);
  const json models = Body(Get("/v1/models"));
  ASSERT_EQ(models["data"].size(), 2u);
  EXPECT_EQ(models["data"][0]["id"], "qwen");
  EXPECT_EQ(models["data"][1]["id"], "Qwen/Qwen2.5-VL-3B-Instruct");
  EXPECT_EQ(models["data"][1]["root"], "fake-model");
  json body = Simple();
  body["model"] = "fake-model";  // the folder's name is not one of them
  ExpectError(Chat(body), 404, "model");
  EXPECT_EQ(json::parse(Chat(body)->body)["error"]["code"], "model_not_found");
  ExpectError(Complete({{"model", "gpt-4"}, {"prompt", "x"}}), 404, "model");
  body["model"] = "Qwen/Qwen2.5-VL-3B-Instruct";
  EXPECT_EQ(Body(Chat(body))["model"], "Qwen/Qwen2.5-VL-3B-Instruct");
  body.erase("model");
  EXPECT_EQ(Body(Chat(body))["model"], "qwen");  // the first name is the one reported
  EXPECT_EQ(Body(Get("/v1/models/Qwen%2FQwen2.5-VL-3B-Instruct"))["id"],
            "Qwen/Qwen2.5-VL-3B-Instruct");
  EXPECT_EQ(Body(Get("/v1/models/qwen"))["id"], "qwen");
  ExpectError(Get("/v1/models/fake-model"), 404, "model");
  EXPECT_EQ(Body(Get("/health"))["model"], "qwen");
  EXPECT_EQ(engine_.submitted(), 2u);  // the refused ones never reached the engine
}

TEST_F(SurfaceTest, EmptyServedNameIsAnOptionError) {
  ServerOptions o;
  o.served_model_names = {"ok", ""};
  EXPECT_THROW({ HttpServer server(engine_, o); }, Error);
}

// --- /v1/completions -------------------------------------------------------------------------

TEST_F(SurfaceTest, CompletionOfAStringPrompt) {
  StartServer();
  const json j = Body(Complete({{"model", "fake-model"}, {"prompt", "hi"}}));
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_THAT(j["id"].get<std::string>(), StartsWith("cmpl-"));
  EXPECT_TRUE(j["created"].is_number_integer());
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["text"], "Hello, world!");
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 2);  // the fake tokenizer: one token per byte
  EXPECT_EQ(j["usage"]["completion_tokens"], 4);
  EXPECT_EQ(j["usage"]["total_tokens"], 6);
  ASSERT_EQ(engine_.submitted(), 1u);
  const Request& r = engine_.requests[0];
  ASSERT_TRUE(r.prompt_ids);
  EXPECT_EQ(*r.prompt_ids, (std::vector<TokenId>{'h', 'i'}));
  EXPECT_TRUE(r.messages.empty());  // no chat template
  EXPECT_EQ(r.sampling.max_new_tokens, 16);
  EXPECT_EQ(r.sampling.logprobs, -1);
  EXPECT_FALSE(r.on_token);
}

TEST_F(SurfaceTest, CompletionSamplingFieldsReachTheEngine) {
  StartServer();
  Body(Complete({{"prompt", {1, 2, 3}},
                 {"max_tokens", 7},
                 {"temperature", 0.5},
                 {"top_p", 0.9},
                 {"seed", 4},
                 {"stop", {"\n\n"}},
                 {"presence_penalty", 0.5},
                 {"frequency_penalty", -0.5},
                 {"top_k", 3},
                 {"min_p", 0.1},
                 {"repetition_penalty", 1.1}}));
  ASSERT_EQ(engine_.submitted(), 1u);
  const SamplingParams& s = engine_.requests[0].sampling;
  EXPECT_EQ(*engine_.requests[0].prompt_ids, (std::vector<TokenId>{1, 2, 3}));
  EXPECT_EQ(s.max_new_tokens, 7);
  EXPECT_FLOAT_EQ(*s.temperature, 0.5f);
  EXPECT_FLOAT_EQ(*s.top_p, 0.9f);
  EXPECT_EQ(*s.seed, 4u);
  EXPECT_EQ(s.stop, std::vector<std::string>{"\n\n"});
  EXPECT_FLOAT_EQ(s.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(s.frequency_penalty, -0.5f);
  EXPECT_EQ(*s.top_k, 3);
  EXPECT_FLOAT_EQ(*s.min_p, 0.1f);
  EXPECT_FLOAT_EQ(*s.repetition_penalty, 1.1f);
}

TEST_F(SurfaceTest, CompletionEchoPutsThePromptFirst) {
  StartServer();
  json j = Body(Complete({{"prompt", "Say: "}, {"echo", true}}));
  EXPECT_EQ(j["choices"][0]["text"], "Say: Hello, world!");
  j = Body(Complete({{"prompt", {104, 105}}, {"echo", true}}));  // ids echo as their text
  EXPECT_EQ(j["choices"][0]["text"], "hiHello, world!");
  // Streamed, the prompt comes first, in its own chunk.
  const auto events = StreamOf(Complete({{"prompt", "Q"}, {"echo", true}, {"stream", true}}));
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[0]["choices"][0]["text"], "Q");
  std::string text;
  for (size_t i = 0; i + 1 < events.size(); ++i) text += events[i]["choices"][0]["text"];
  EXPECT_EQ(text, "QHello, world!");
}

TEST_F(SurfaceTest, CompletionChoicesArePromptMajorAndUsageCountsEachPromptOnce) {
  engine_.script.tag_seed = true;
  StartServer();
  const json j =
      Body(Complete(json::parse(R"({"prompt":[[104,105],[120]],"n":2,"seed":10,"echo":true})")));
  ASSERT_EQ(j["choices"].size(), 4u);
  const std::vector<std::string> expected = {
      "hi[seed 10] Hello, world!", "hi[seed 11] Hello, world!", "x[seed 10] Hello, world!",
      "x[seed 11] Hello, world!"};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(j["choices"][i]["index"], i);
    EXPECT_EQ(j["choices"][i]["text"], expected[i]);
  }
  EXPECT_EQ(j["usage"]["prompt_tokens"], 3);  // 2 + 1, not counted n times
  EXPECT_EQ(j["usage"]["completion_tokens"], 16);
  ASSERT_EQ(engine_.submitted(), 4u);
}

TEST_F(SurfaceTest, CompletionLogprobsInTheLegacyFormat) {
  StartServer();
  const json j = Body(Complete({{"prompt", "hi"}, {"logprobs", 2}}));
  const json& lp = j["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"], json(Pieces()));
  EXPECT_EQ(lp["token_logprobs"], json({-0.125, -0.25, -0.375, -0.5}));
  EXPECT_EQ(lp["text_offset"], json({0, 5, 7, 12}));
  ASSERT_EQ(lp["top_logprobs"].size(), 4u);
  // The chosen token and its alternatives: logprobs + 1 entries at most.
  EXPECT_EQ(lp["top_logprobs"][0], json({{"Hello", -0.125}, {"alt1", -1.125}}));
  EXPECT_EQ(lp["top_logprobs"][3], json({{"!", -0.5}, {"alt1", -1.5}}));
  ASSERT_EQ(engine_.submitted(), 1u);  // (under the fake's lock: then its list may be read)
  EXPECT_EQ(engine_.requests[0].sampling.logprobs, 2);
  // logprobs 0: the chosen tokens alone.
  const json zero = Body(Complete({{"prompt", "hi"}, {"logprobs", 0}}));
  EXPECT_EQ(zero["choices"][0]["logprobs"]["top_logprobs"][1], json({{", ", -0.25}}));
}

TEST_F(SurfaceTest, StreamedCompletionCarriesEachTokensLogprobsWithItsText) {
  engine_.script.held_back = {"STOP"};  // a stop string's token: chosen, never streamed
  engine_.script.report_end_token = true;
  StartServer();
  const json whole = Body(Complete({{"prompt", "hi"}, {"logprobs", 1}}));
  const auto events = StreamOf(Complete({{"prompt", "hi"},
                                         {"logprobs", 1},
                                         {"stream", true},
                                         {"stream_options", {{"include_usage", true}}}}));
  ASSERT_GE(events.size(), 4u);
  std::string text;
  json tokens = json::array(), logprobs = json::array(), offsets = json::array();
  int finishing = 0;
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    const json& e = events[i];
    EXPECT_EQ(e["object"], "text_completion");
    EXPECT_EQ(e["id"], events[0]["id"]);
    const json& c = e["choices"][0];
    text += c["text"].get<std::string>();
    if (!c["finish_reason"].is_null()) ++finishing;
    if (c["logprobs"].is_null()) {
      EXPECT_EQ(c["text"], "");  // text always comes with its tokens
      continue;
    }
    // The tokens of a chunk spell its text (the held-back one excepted: it has none).
    std::string spelled;
    for (const auto& t : c["logprobs"]["tokens"]) {
      tokens.push_back(t);
      if (t != "STOP") spelled += t.get<std::string>();
    }
    EXPECT_EQ(spelled, c["text"]);
    for (const auto& l : c["logprobs"]["token_logprobs"]) logprobs.push_back(l);
    for (const auto& o : c["logprobs"]["text_offset"]) offsets.push_back(o);
  }
  EXPECT_EQ(text, "Hello, world!");
  EXPECT_EQ(finishing, 1);
  // The stream's tokens are the whole answer's: the held-back one is there, the end token not.
  EXPECT_EQ(tokens, whole["choices"][0]["logprobs"]["tokens"]);
  EXPECT_EQ(tokens.size(), 5u);
  EXPECT_EQ(logprobs, whole["choices"][0]["logprobs"]["token_logprobs"]);
  EXPECT_EQ(offsets, whole["choices"][0]["logprobs"]["text_offset"]);
  const json& usage = events[events.size() - 2];
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["object"], "text_completion");
  EXPECT_EQ(usage["usage"]["completion_tokens"], 5);
}

TEST_F(SurfaceTest, HostileCompletionsAre400AndReachNoEngine) {
  ServerOptions o;
  o.max_body_bytes = 1 << 20;
  StartServer(o);
  std::vector<int> big(5000, 1);  // over the fake's 4096-token context
  const std::vector<std::pair<json, std::string>> cases = {
      {json::parse(R"({"prompt":[256]})"), "prompt[0]"},  // the fake's vocabulary is 256 ids
      {json::parse(R"({"prompt":[-5]})"), "prompt[0]"},
      {json::parse(R"({"prompt":[[1],[1,"x"]]})"), "prompt[1][1]"},
      {{{"prompt", big}}, "prompt"},
      {{{"prompt", ""}}, "prompt"},
      {{{"prompt", json::array()}}, "prompt"},
      {{{"prompt", json::object()}}, "prompt"},
      {{{"messages", {{{"role", "user"}, {"content", "x"}}}}}, "prompt"},
      {{{"prompt", "x"}, {"suffix", "end"}}, "suffix"},
      {{{"prompt", "x"}, {"echo", true}, {"logprobs", 1}}, "echo"},
      {{{"prompt", "x"}, {"logprobs", 6}}, "logprobs"},
      {{{"prompt", "x"}, {"best_of", 2}}, "best_of"},
      {{{"prompt", "x"}, {"n", 17}}, "n"},
      {{{"prompt", json::array({"a", "b", "c", "d", "e"})}, {"n", 4}}, "n"},
      {{{"prompt", "x"}, {"logit_bias", {{"1", 5}}}}, "logit_bias"},
      {{{"prompt", "x"}, {"max_tokens", 0}}, "max_tokens"},
  };
  for (const auto& [body, param] : cases) {
    SCOPED_TRACE(body.dump().substr(0, 200));
    ExpectError(Complete(body), 400, param);
  }
  EXPECT_EQ(Fetch(port_, "POST", "/v1/completions", "{\"prompt\":")->status, 400);
  EXPECT_EQ(Fetch(port_, "POST", "/v1/completions", "{}", {{"Content-Type", "text/plain"}})->status,
            415);
  EXPECT_EQ(Fetch(port_, "GET", "/v1/completions")->status, 405);
  EXPECT_EQ(engine_.submitted(), 0u);
  EXPECT_EQ(Body(Complete({{"prompt", "ok"}}))["choices"][0]["text"], "Hello, world!");
}

// --- Chat logprobs ---------------------------------------------------------------------------

TEST_F(SurfaceTest, ChatLogprobsInOpenAisShape) {
  StartServer();
  json body = Simple();
  body["logprobs"] = true;
  body["top_logprobs"] = 2;
  const json j = Body(Chat(body));
  const json& lp = j["choices"][0]["logprobs"];
  EXPECT_TRUE(lp["refusal"].is_null());
  ASSERT_EQ(lp["content"].size(), 4u);
  const json& first = lp["content"][0];
  EXPECT_EQ(first["token"], "Hello");
  EXPECT_DOUBLE_EQ(first["logprob"].get<double>(), -0.125);
  EXPECT_EQ(first["bytes"], json({72, 101, 108, 108, 111}));
  ASSERT_EQ(first["top_logprobs"].size(), 2u);
  EXPECT_EQ(first["top_logprobs"][0]["token"], "Hello");
  EXPECT_EQ(first["top_logprobs"][1]["token"], "alt1");
  EXPECT_DOUBLE_EQ(first["top_logprobs"][1]["logprob"].get<double>(), -1.125);
  EXPECT_EQ(first["top_logprobs"][1]["bytes"], json({97, 108, 116, 49}));
  EXPECT_EQ(lp["content"][3]["token"], "!");
  ASSERT_EQ(engine_.submitted(), 1u);
  EXPECT_EQ(engine_.requests[0].sampling.logprobs, 2);
  // logprobs alone: the chosen tokens, no alternatives.
  body.erase("top_logprobs");
  const json plain = Body(Chat(body));
  EXPECT_EQ(plain["choices"][0]["logprobs"]["content"][0]["top_logprobs"], json::array());
  // Without: null, as before.
  EXPECT_TRUE(Body(Chat(Simple()))["choices"][0]["logprobs"].is_null());
}

TEST_F(SurfaceTest, StreamedChatChunksCarryTheLogprobsOfTheirText) {
  engine_.script.held_back = {"END"};
  engine_.script.report_end_token = true;
  engine_.script.piece_delay_ms = 5;
  StartServer();
  json body = Simple(true);
  body["logprobs"] = true;
  body["top_logprobs"] = 1;
  json whole_body = Simple();
  whole_body["logprobs"] = true;
  whole_body["top_logprobs"] = 1;
  const json whole = Body(Chat(whole_body));
  const auto events = StreamOf(Chat(body));
  json streamed = json::array();
  std::string text;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json& c = events[i]["choices"][0];
    const std::string piece = c["delta"].value("content", "");
    text += piece;
    if (c["logprobs"].is_null()) {
      EXPECT_EQ(piece, "") << events[i].dump();
      continue;
    }
    std::string spelled;
    for (const auto& t : c["logprobs"]["content"]) {
      streamed.push_back(t);
      if (t["token"] != "END") spelled += t["token"].get<std::string>();
    }
    EXPECT_EQ(spelled, piece) << events[i].dump();
  }
  EXPECT_EQ(text, "Hello, world!");
  EXPECT_EQ(streamed, whole["choices"][0]["logprobs"]["content"]);
  EXPECT_EQ(streamed.size(), 5u);  // four pieces and the held-back token; not the end token
}

// With tools offered, text inside a <tool_call> block is held until the call is whole: its tokens'
// logprobs go with the chunk that carries the call, so the stream still carries every token once.
TEST_F(SurfaceTest, ToolCallsWithNChoicesAndLogprobs) {
  engine_.script.pieces = {"Checking.\n<tool_",
                           "call>\n{\"name\": \"f\", \"arguments\": {\"x\": 3}}\n</tool", "_call>"};
  StartServer();
  json body = Simple();
  body["tools"] = json::parse(R"([{"type":"function","function":{"name":"f","parameters":
      {"type":"object","properties":{"x":{"type":"integer"}}}}}])");
  body["n"] = 2;
  body["logprobs"] = true;
  const json whole = Body(Chat(body));
  ASSERT_EQ(whole["choices"].size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const json& c = whole["choices"][i];
    EXPECT_EQ(c["finish_reason"], "tool_calls");
    EXPECT_EQ(c["message"]["content"], "Checking.");
    EXPECT_EQ(c["message"]["tool_calls"][0]["function"]["name"], "f");
    EXPECT_EQ(c["logprobs"]["content"].size(), 3u);
  }
  body["stream"] = true;
  const auto events = StreamOf(Chat(body));
  std::map<int, int> calls, tokens;
  std::map<int, std::string> finish;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json& c = events[i]["choices"][0];
    const int index = c["index"];
    if (c["delta"].contains("tool_calls")) {
      ++calls[index];
      EXPECT_EQ(c["delta"]["tool_calls"][0]["index"], 0);
    }
    if (c["logprobs"].is_object()) {
      tokens[index] += static_cast<int>(c["logprobs"]["content"].size());
    }
    if (c["finish_reason"].is_string()) finish[index] = c["finish_reason"];
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(calls[i], 1) << i;
    EXPECT_EQ(tokens[i], 3) << i;  // each token once, whatever chunk carried it
    EXPECT_EQ(finish[i], "tool_calls") << i;
  }
}

// --- n choices -------------------------------------------------------------------------------

TEST_F(SurfaceTest, NChatChoicesHaveTheirOwnSeedsAndOneUsage) {
  engine_.script.tag_seed = true;
  StartServer();
  json body = Simple();
  body["n"] = 3;
  body["seed"] = 5;
  const json j = Body(Chat(body));
  ASSERT_EQ(j["choices"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(j["choices"][i]["index"], i);
    EXPECT_EQ(j["choices"][i]["message"]["content"],
              "[seed " + std::to_string(5 + i) + "] Hello, world!");
    EXPECT_EQ(j["choices"][i]["finish_reason"], "stop");
    EXPECT_TRUE(j["choices"][i]["qwenvl"]["grounding"].is_array());
  }
  EXPECT_EQ(j["usage"]["prompt_tokens"], 10);  // the prompt once
  EXPECT_EQ(j["usage"]["completion_tokens"], 12);
  EXPECT_EQ(j["usage"]["total_tokens"], 22);
  ASSERT_EQ(engine_.submitted(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(engine_.requests[i].messages[0].content[0].text, "hi");
  }
  // Without a seed, each choice draws its own (the engine's random one).
  body.erase("seed");
  Body(Chat(body));
  ASSERT_EQ(engine_.submitted(), 6u);
  for (int i = 3; i < 6; ++i) EXPECT_FALSE(engine_.requests[i].sampling.seed);
  const std::string metrics = Get("/metrics")->body;
  EXPECT_THAT(metrics, HasSubstr("qwenvl_requests_total{status=\"200\"} 2"));  // per HTTP request
  EXPECT_THAT(LogText(), HasSubstr("prompt=10 completion=12"));
}

TEST_F(SurfaceTest, NStreamedChatChoicesEachCarryTheirIndex) {
  engine_.script.tag_seed = true;
  engine_.script.piece_delay_ms = 2;
  StartServer();
  json body = Simple(true);
  body["n"] = 2;
  body["seed"] = 1;
  body["logprobs"] = true;
  body["stream_options"] = {{"include_usage", true}};
  const auto events = StreamOf(Chat(body));
  std::map<int, std::string> text;
  std::map<int, int> roles, finishes, tokens;
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    const json& e = events[i];
    EXPECT_EQ(e["id"], events[0]["id"]);
    ASSERT_EQ(e["choices"].size(), 1u);
    const json& c = e["choices"][0];
    const int index = c["index"];
    if (c["delta"].contains("role")) {
      ++roles[index];
      EXPECT_EQ(finishes[index] + tokens[index], 0) << "the role comes first";
    }
    text[index] += c["delta"].value("content", "");
    if (!c["finish_reason"].is_null()) ++finishes[index];
    if (c["logprobs"].is_object())
      tokens[index] += static_cast<int>(c["logprobs"]["content"].size());
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(roles[i], 1);
    EXPECT_EQ(finishes[i], 1);
    EXPECT_EQ(tokens[i], 4);
    EXPECT_EQ(text[i], "[seed " + std::to_string(1 + i) + "] Hello, world!");
  }
  const json& usage = events[events.size() - 2];
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(usage["usage"]["completion_tokens"], 8);
}

TEST_F(SurfaceTest, NIsBoundedByTheQueue) {
  engine_.queue = 4;
  StartServer();
  json body = Simple();
  body["n"] = 5;
  const std::optional<Reply> refused = Chat(body);
  ExpectError(refused, 400, "n");
  EXPECT_THAT(refused->body, HasSubstr("4"));
  EXPECT_EQ(engine_.submitted(), 0u);
  body["n"] = 4;
  EXPECT_EQ(Body(Chat(body))["choices"].size(), 4u);
}

// The engine refuses the third choice: the two it took are cancelled, the client gets 429, and
// nothing is left running.
TEST_F(SurfaceTest, AQueueFullRefusalOfOneChoiceCancelsTheOthers) {
  engine_.max_in_flight = 2;
  engine_.script.pieces = std::vector<std::string>(100, "tok ");
  engine_.script.piece_delay_ms = 10;
  StartServer();
  json body = Simple();
  body["n"] = 3;
  const auto busy = Chat(body);
  const json j = Body(busy, 429);
  EXPECT_EQ(j["error"]["type"], "rate_limit_error");
  ASSERT_TRUE(WaitFor([&] { return engine_.completed_count == 2; }));
  EXPECT_EQ(engine_.cancelled_count, 2);
  EXPECT_EQ(engine_.in_flight(), 0);
  engine_.script.pieces = Pieces();
  engine_.script.piece_delay_ms = 0;
  EXPECT_EQ(Body(Chat(Simple()))["choices"][0]["message"]["content"], "Hello, world!");
  EXPECT_TRUE(WaitFor([&] { return server_->metrics().active() == 0; }));
}

TEST_F(SurfaceTest, AClientThatLeavesCancelsAllItsChoices) {
  engine_.script.pieces = std::vector<std::string>(300, "tok ");
  engine_.script.piece_delay_ms = 10;
  StartServer();
  for (bool stream : {true, false}) {
    engine_.cancelled_count = 0;
    engine_.completed_count = 0;
    json body = Simple(stream);
    body["n"] = 3;
    {
      TestConnection c(port_, 300ms);
      ASSERT_TRUE(c.SendRaw(ChatRequestBytes(body)));
      ASSERT_TRUE(WaitFor([&] { return engine_.answering_count >= (stream ? 1 : 3); }));
    }  // the client goes away
    ASSERT_TRUE(WaitFor([&] { return engine_.completed_count == 3; })) << stream;
    EXPECT_EQ(engine_.cancelled_count, 3) << stream;
    engine_.answering_count = 0;
  }
}

TEST_F(SurfaceTest, AFailingChoiceEndsTheAnswerWithItsError) {
  engine_.script.error = Error(ErrorCode::kCorruptFile, "not an image");
  StartServer();
  for (bool stream : {false, true}) {
    json body = Simple(stream);
    body["n"] = 2;
    const json j = Body(Chat(body), 400);
    EXPECT_EQ(j["error"]["code"], "corrupt_file") << j.dump();
    EXPECT_EQ(j["error"]["param"], "messages");
  }
  // A text completion's input is its prompt.
  engine_.script.error = Error(ErrorCode::kOutOfRange, "prompt too long");
  ExpectError(Complete({{"prompt", "x"}, {"n", 2}}), 400, "prompt");
  EXPECT_TRUE(WaitFor([&] { return engine_.completed_count == 6; }));
}

// A drain refuses what is queued: a request whose choices are partly queued gets its 503 at once,
// and its running choice is cancelled with it.
TEST_F(SurfaceTest, DrainRefusesARequestWithQueuedChoices) {
  engine_.parallel = 1;
  engine_.script.pieces = std::vector<std::string>(200, "tok ");
  engine_.script.piece_delay_ms = 20;  // 4 s each if nobody stops them
  ServerOptions o;
  o.shutdown_timeout = 20s;
  StartServer(o);
  TestConnection c(port_, 10s);
  json body = Simple();
  body["n"] = 2;
  ASSERT_TRUE(c.SendRaw(ChatRequestBytes(body)));
  ASSERT_TRUE(WaitFor([&] { return engine_.submitted() == 2 && engine_.running() == 1; }));
  const auto t0 = std::chrono::steady_clock::now();
  server_->Drain();
  const auto reply = c.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 503);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_TRUE(WaitFor([&] { return engine_.cancelled_count == 2; }));
  thread_.join();
}

// --- /tokenize, /detokenize, /apply-template -------------------------------------------------

TEST_F(SurfaceTest, TokenizeAndDetokenize) {
  StartServer();
  EXPECT_EQ(Body(Post("/tokenize", {{"content", "hi"}}))["tokens"], json({104, 105}));
  EXPECT_EQ(Body(Post("/tokenize", {{"content", ""}}))["tokens"], json::array());
  EXPECT_EQ(Body(Post("/tokenize", {{"content", "hi"}, {"add_special", true}}))["tokens"],
            json({104, 105}));
  const json pieces = Body(Post("/tokenize", {{"content", "a\xc3\xa9"}, {"with_pieces", true}}));
  // A piece that is not whole UTF-8 comes as its bytes.
  EXPECT_EQ(pieces["tokens"], json::parse(R"([{"id":97,"piece":"a"},{"id":195,"piece":[195]},
                                               {"id":169,"piece":[169]}])"));
  EXPECT_EQ(Body(Post("/detokenize", {{"tokens", {104, 105}}}))["content"], "hi");
  EXPECT_EQ(Body(Post("/detokenize", {{"tokens", json::array()}}))["content"], "");
  EXPECT_EQ(Body(Post("/apply-template", {{"messages",
                                           {{{"role", "system"}, {"content", "Be brief."}},
                                            {{"role", "user"}, {"content", "hi"}}}}}))["prompt"],
            "system:Be brief.\nuser:hi\n");
  EXPECT_EQ(engine_.submitted(), 0u);  // nothing ran the model
}

TEST_F(SurfaceTest, HostileTokenizerRequestsAre400) {
  ServerOptions o;
  o.max_body_bytes = 1 << 20;
  StartServer(o);
  std::vector<int> many(4097, 1);  // over the fake's 4096-token context
  const std::vector<std::tuple<std::string, json, std::string>> cases = {
      {"/tokenize", json::object(), "content"},
      {"/tokenize", {{"content", 5}}, "content"},
      {"/tokenize", json::parse(R"({"content":["a"]})"), "content"},
      {"/tokenize", {{"content", "x"}, {"with_pieces", "yes"}}, "with_pieces"},
      {"/tokenize", {{"content", "x"}, {"add_special", 1}}, "add_special"},
      {"/tokenize", {{"content", "x"}, {"parse_special", false}}, "parse_special"},
      {"/tokenize", {{"content", std::string(16 * 4096 + 1, 'a')}}, "content"},
      {"/tokenize", json::array({1}), "body"},
      {"/detokenize", json::object(), "tokens"},
      {"/detokenize", {{"tokens", "hi"}}, "tokens"},
      {"/detokenize", json::parse(R"({"tokens":[256]})"), "tokens[0]"},
      {"/detokenize", json::parse(R"({"tokens":[1,-1]})"), "tokens[1]"},
      {"/detokenize", json::parse(R"({"tokens":[1.5]})"), "tokens[0]"},
      {"/detokenize", json::parse(R"({"tokens":["a"]})"), "tokens[0]"},
      {"/detokenize", json::parse(R"({"tokens":[true]})"), "tokens[0]"},
      {"/detokenize", json::parse(R"({"tokens":[[1]]})"), "tokens[0]"},
      {"/detokenize", json::parse(R"({"tokens":[18446744073709551615]})"), "tokens[0]"},
      {"/detokenize", {{"tokens", many}}, "tokens"},
      {"/apply-template", json::object(), "messages"},
      {"/apply-template",
       {{"messages", {{{"role", "robot"}, {"content", "x"}}}}},
       "messages[0].role"},
  };
  for (const auto& [path, body, param] : cases) {
    SCOPED_TRACE(path + " " + body.dump().substr(0, 100));
    ExpectError(Post(path, body), 400, param);
  }
  // Exactly 16 bytes per context token is still fine.
  EXPECT_EQ(Body(Post("/tokenize", {{"content", std::string(16 * 4096, 'a')}}))["tokens"].size(),
            65536u);
  for (const char* path : {"/tokenize", "/detokenize", "/apply-template"}) {
    EXPECT_EQ(Fetch(port_, "POST", path, "{oops")->status, 400) << path;
    EXPECT_EQ(Fetch(port_, "POST", path, "{}", {{"Content-Type", "text/plain"}})->status, 415)
        << path;
    EXPECT_EQ(Fetch(port_, "GET", path)->status, 405) << path;
  }
  EXPECT_EQ(Body(Post("/detokenize", {{"tokens", {111, 107}}}))["content"], "ok");
}

TEST_F(SurfaceTest, EveryNewEndpointNeedsTheKey) {
  ServerOptions o;
  o.api_key = "k";
  StartServer(o);
  const std::map<std::string, std::string> key = {{"Authorization", "Bearer k"}};
  for (const char* path : {"/v1/completions", "/tokenize", "/detokenize", "/apply-template"}) {
    EXPECT_EQ(Post(path, {{"prompt", "x"}})->status, 401) << path;
  }
  EXPECT_EQ(Get("/v1/models/x")->status, 401);
  EXPECT_EQ(Post("/tokenize", {{"content", "x"}}, key)->status, 200);
  EXPECT_EQ(Post("/v1/completions", {{"prompt", "x"}}, key)->status, 200);
  EXPECT_EQ(Get("/v1/models/x", key)->status, 200);
}

}  // namespace
}  // namespace qwenvl::server
