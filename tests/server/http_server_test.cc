// The server end to end on an ephemeral port, against the scripted FakeEngineClient.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

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
using testing::TestConnection;

TEST_F(ServerTest, PlainCompletion) {
  MediaInfo m;
  m.original_width = 200;
  m.original_height = 100;
  m.resized_width = 100;
  m.resized_height = 50;
  engine_.script.media = {m};
  engine_.script.pieces = {"[{\"bbox_2d\": [10, 20, 30, 40], \"label\": \"cat\"}]"};
  StartServer();
  auto res = Chat(Simple());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  const json j = json::parse(res->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "fake-model");
  EXPECT_EQ(j["choices"][0]["message"]["content"], engine_.script.pieces[0]);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(j["usage"]["completion_tokens"], 1);
  EXPECT_EQ(j["qwenvl"]["grounding"][0]["bbox_2d"], json({20.0, 40.0, 60.0, 80.0}));
  EXPECT_EQ(j["qwenvl"]["grounding"][0]["bbox_2d_resized"], json({10.0, 20.0, 30.0, 40.0}));
  ASSERT_EQ(engine_.submitted(), 1u);
  EXPECT_EQ(engine_.requests[0].messages[0].content[0].text, "hi");
}

TEST_F(ServerTest, StreamingInOpenAiChunkFormat) {
  StartServer();
  json body = Simple(true);
  body["stream_options"] = {{"include_usage", true}};
  auto res = Chat(body);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_THAT(res->header("content-type"), HasSubstr("text/event-stream"));
  const auto events = Events(res->body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  for (size_t i = 0; i + 3 < events.size(); ++i) {
    const json& e = events[i];
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    EXPECT_EQ(e["id"], events[0]["id"]);
    EXPECT_TRUE(e["created"].is_number_integer());
    EXPECT_EQ(e["model"], "fake-model");
    EXPECT_TRUE(e["choices"][0]["finish_reason"].is_null());
    if (i == 0) {
      EXPECT_EQ(e["choices"][0]["delta"]["role"], "assistant");
    }
    text += e["choices"][0]["delta"].value("content", "");
  }
  EXPECT_EQ(text, "Hello, world!");
  const json& last = events[events.size() - 3];
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(last["qwenvl"]["grounding"].is_array());
  const json& usage = events[events.size() - 2];
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 4);
}

TEST_F(ServerTest, ErrorsHaveTheOpenAiShapeAndStatus) {
  ServerOptions options;
  options.api_key = "secret";
  options.max_body_bytes = 2000;
  options.served_model_names = {"fake-model"};  // without, any model name is accepted
  StartServer(options);
  const std::map<std::string, std::string> auth = {{"Authorization", "Bearer secret"}};
  auto expect_error = [](const std::optional<Reply>& res, int status, const std::string& code) {
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, status) << res->body;
    const json j = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(j.contains("error")) << res->body;
    EXPECT_TRUE(j["error"]["message"].is_string());
    EXPECT_TRUE(j["error"]["type"].is_string());
    if (!code.empty()) {
      EXPECT_EQ(j["error"]["code"], code) << res->body;
    }
  };
  expect_error(Chat(Simple()), 401, "invalid_api_key");
  expect_error(Chat(Simple(), {{"Authorization", "Bearer wrong"}}), 401, "invalid_api_key");
  expect_error(Fetch(port_, "POST", "/v1/chat/completions", "{oops", auth), 400, "invalid_json");
  json wrong_model = Simple();
  wrong_model["model"] = "other";
  expect_error(Chat(wrong_model, auth), 404, "model_not_found");
  json big = Simple();
  big["messages"][0]["content"] = std::string(5000, 'x');
  expect_error(Chat(big, auth), 413, "body_too_large");
  expect_error(Get("/v1/nothing", auth), 404, "not_found");
  // The server is still fine after all that.
  auto ok = Chat(Simple(), auth);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto metrics = Get("/metrics", auth);
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("qwenvl_requests_total{status=\"401\"} 2"));
  EXPECT_THAT(metrics->body, HasSubstr("qwenvl_requests_total{status=\"413\"} 1"));
  EXPECT_THAT(metrics->body, HasSubstr("qwenvl_requests_total{status=\"200\"} 1"));
}

TEST_F(ServerTest, EngineErrorsBecome4xxEvenWhenStreaming) {
  engine_.script.error = Error(ErrorCode::kOutOfRange, "prompt of 5000 tokens exceeds 4096");
  StartServer();
  for (bool stream : {false, true}) {
    auto res = Chat(Simple(stream));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    EXPECT_EQ(json::parse(res->body)["error"]["code"], "context_length_exceeded");
  }
  engine_.script.error = Error(ErrorCode::kCorruptFile, "not an image");
  auto res = Chat(Simple());
  EXPECT_EQ(res->status, 400);
}

TEST_F(ServerTest, QueueFullIs429AndOthersAreUndisturbed) {
  engine_.max_in_flight = 1;
  engine_.script.piece_delay_ms = 100;
  StartServer();
  std::thread slow([&] {
    auto res = Chat(Simple());
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(json::parse(res->body)["choices"][0]["message"]["content"], "Hello, world!");
  });
  while (engine_.in_flight() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto busy = Chat(Simple());
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->status, 429);
  EXPECT_EQ(json::parse(busy->body)["error"]["type"], "rate_limit_error");
  slow.join();
}

TEST_F(ServerTest, ClientDisconnectCancelsTheRequest) {
  engine_.script.pieces = std::vector<std::string>(200, "tok ");
  engine_.script.piece_delay_ms = 10;
  StartServer();
  {
    TestConnection c(port_);
    ASSERT_TRUE(c.SendRaw(ChatRequestBytes(Simple(true))));
    char bytes[64];
    ASSERT_GT(::recv(c.fd(), bytes, sizeof(bytes), 0), 0);  // the stream has started
  }                                                         // the client goes away
  ASSERT_TRUE(WaitFor([&] { return engine_.completed_count == 1; }));
  EXPECT_EQ(engine_.cancelled_count, 1);
}

// A non-streamed answer sends nothing until it is complete: the server watches the socket while
// it waits, and cancels the request when the client gives up.
TEST_F(ServerTest, ClientDisconnectBeforeANonStreamedAnswerCancelsTheRequest) {
  engine_.script.pieces = std::vector<std::string>(400, "tok ");
  engine_.script.piece_delay_ms = 10;  // 4 s if nobody cancels
  StartServer();
  const auto start = std::chrono::steady_clock::now();
  {
    TestConnection c(port_, std::chrono::milliseconds(300));
    ASSERT_TRUE(c.SendRaw(ChatRequestBytes(Simple())));
    EXPECT_FALSE(c.Read());  // gives up after 0.3 s and closes the connection
  }
  ASSERT_TRUE(WaitFor([&] { return engine_.completed_count == 1; }));
  EXPECT_EQ(engine_.cancelled_count, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST_F(ServerTest, ModelsHealthMetricsAndPage) {
  StartServer();
  auto models = Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(json::parse(models->body)["data"][0]["id"], "fake-model");
  auto health = Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(json::parse(health->body)["status"], "ok");
  auto page = Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->header("content-type"), HasSubstr("text/html"));
  EXPECT_THAT(page->body, HasSubstr("<script src=\"/app.js\">"));
  auto js = Get("/app.js");
  ASSERT_TRUE(js);
  EXPECT_THAT(js->body, HasSubstr("getReader"));
  EXPECT_THAT(js->header("content-type"), HasSubstr("javascript"));
  EXPECT_EQ(Get("/style.css")->status, 200);
  EXPECT_EQ(Get("/missing.js")->status, 404);
  Chat(Simple());
  auto metrics = Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("qwenvl_generated_tokens_total 4"));
  EXPECT_THAT(metrics->body, HasSubstr("qwenvl_active_requests 0"));
  EXPECT_THAT(metrics->body, HasSubstr("qwenvl_time_to_first_token_seconds_count 1"));
}

}  // namespace
}  // namespace qwenvl::server

namespace qwenvl::server {
namespace {

// Function calling over HTTP: <tool_call> blocks of the answer come back as tool_calls, whole and
// streamed (the answer cut across the call's tags), with finish_reason "tool_calls"; without
// tools the same text is plain content.
class ToolCallServerTest : public ServerTest {
 protected:
  static json WithTools(bool stream) {
    json body = Simple(stream);
    body["tools"] = json::parse(R"([{"type":"function","function":{"name":"f","parameters":
        {"type":"object","properties":{"x":{"type":"integer"}},"required":["x"],"additionalProperties":false}}}])");
    return body;
  }
};

TEST_F(ToolCallServerTest, CallsBecomeToolCallsWholeAndStreamed) {
  engine_.script.pieces = {"Checking.\n<tool_",
                           "call>\n{\"name\": \"f\", \"arguments\": {\"x\": 3}}\n</tool", "_call>"};
  StartServer();
  auto res = Chat(WithTools(false));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json j = json::parse(res->body);
  const json& choice = j["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_EQ(choice["message"]["content"], "Checking.");
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 1u);
  EXPECT_EQ(choice["message"]["tool_calls"][0]["function"]["name"], "f");
  EXPECT_EQ(
      json::parse(
          choice["message"]["tool_calls"][0]["function"]["arguments"].get<std::string>())["x"],
      3);
  // The tools reached the prompt; tool_choice auto leaves the answer free.
  EXPECT_NE(engine_.requests[0].messages[0].content[0].text.find("<tools>"), std::string::npos);
  EXPECT_EQ(engine_.requests[0].constraint.kind, OutputConstraint::Kind::kNone);

  auto streamed = Chat(WithTools(true));
  ASSERT_TRUE(streamed);
  const auto events = Events(streamed->body);
  std::string content;
  std::vector<json> calls;
  std::string finish;
  for (const json& e : events) {
    if (!e.is_object() || e["choices"].empty()) continue;
    const json& c = e["choices"][0];
    content += c["delta"].value("content", "");
    if (c["delta"].contains("tool_calls"))
      for (const json& call : c["delta"]["tool_calls"]) calls.push_back(call);
    if (c["finish_reason"].is_string()) finish = c["finish_reason"];
  }
  EXPECT_EQ(content, "Checking.\n");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["index"], 0);
  EXPECT_EQ(calls[0]["function"]["name"], "f");
  EXPECT_EQ(finish, "tool_calls");

  // Required: the request carries the constraint of the function's arguments.
  json required = WithTools(false);
  required["tool_choice"] = "required";
  ASSERT_TRUE(Chat(required));
  EXPECT_EQ(engine_.requests.back().constraint.kind, OutputConstraint::Kind::kGrammar);

  // No tools: the same text is content.
  auto plain = Chat(Simple());
  ASSERT_TRUE(plain);
  EXPECT_EQ(json::parse(plain->body)["choices"][0]["finish_reason"], "stop");
}

}  // namespace
}  // namespace qwenvl::server
