// ollama's API end to end on an ephemeral port, against the scripted FakeEngineClient: every
// endpoint, the newline-delimited stream, errors in ollama's shape, disconnects and the drain.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "server_fixture.h"

namespace qwenvl::server {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::Fetch;
using ::testing::HasSubstr;
using testing::Reply;
using testing::TestConnection;

class OllamaApiTest : public testing::ServerTest {
 protected:
  std::optional<Reply> Post(const std::string& path, const json& body,
                            std::map<std::string, std::string> headers = {}) {
    return Fetch(port_, "POST", path, body.dump(), std::move(headers));
  }
  static json ChatBody(std::optional<bool> stream = std::nullopt) {
    json body = {{"model", "qwen2.5vl:3b"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
    if (stream) body["stream"] = *stream;
    return body;
  }
  static std::string RequestBytes(const std::string& path, const json& body) {
    const std::string text = body.dump();
    return "POST " + path +
           " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + std::to_string(text.size()) +
           "\r\n\r\n" + text;
  }
  // The objects of a newline-delimited JSON body: each line one object, the body ending with a
  // newline.
  static std::vector<json> Lines(const std::string& body) {
    std::vector<json> lines;
    size_t pos = 0, end;
    while ((end = body.find('\n', pos)) != std::string::npos) {
      lines.push_back(json::parse(body.substr(pos, end - pos)));
      pos = end + 1;
    }
    EXPECT_EQ(pos, body.size()) << "the stream does not end with a newline";
    return lines;
  }
  // An error in ollama's shape: {"error": "<message>"} and nothing else.
  static void ExpectError(const std::optional<Reply>& res, int status, const std::string& message) {
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, status) << res->body;
    const json j = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << res->body;
    EXPECT_EQ(j.size(), 1u) << res->body;
    ASSERT_TRUE(j["error"].is_string()) << res->body;
    EXPECT_THAT(j["error"].get<std::string>(), HasSubstr(message));
    EXPECT_THAT(res->header("content-type"), HasSubstr("application/json"));
  }
  static void ExpectStatistics(const json& j) {
    for (const char* key : {"total_duration", "load_duration", "prompt_eval_count",
                            "prompt_eval_duration", "eval_count", "eval_duration"}) {
      EXPECT_TRUE(j[key].is_number_integer()) << key << " in " << j.dump();
      EXPECT_GE(j[key].get<int64_t>(), 0) << key;
    }
  }
  // The whole raw response to a HEAD request (the test client's parser would wait for a body).
  std::string HeadResponse(const std::string& target) {
    TestConnection c(port_);
    EXPECT_TRUE(c.SendRaw("HEAD " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    std::string raw;
    char chunk[4096];
    for (;;) {  // everything until the server closes
      pollfd p{c.fd(), POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) break;
      const ssize_t n = ::recv(c.fd(), chunk, sizeof(chunk), 0);
      if (n <= 0) break;
      raw.append(chunk, static_cast<size_t>(n));
    }
    return raw;
  }
  static bool IsTimestamp(const json& t) {
    static const std::regex rfc3339(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z)");
    return t.is_string() && std::regex_match(t.get<std::string>(), rfc3339);
  }
};

TEST_F(OllamaApiTest, ChatWholeAnswer) {
  StartServer();
  auto res = Post("/api/chat", ChatBody(false));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_THAT(res->header("content-type"), HasSubstr("application/json"));
  const json j = json::parse(res->body);
  EXPECT_EQ(j["model"], "qwen2.5vl:3b");  // echoed as the client named it
  EXPECT_TRUE(IsTimestamp(j["created_at"])) << j["created_at"];
  EXPECT_EQ(j["message"], json({{"role", "assistant"}, {"content", "Hello, world!"}}));
  EXPECT_EQ(j["done"], true);
  EXPECT_EQ(j["done_reason"], "stop");
  ExpectStatistics(j);
  EXPECT_EQ(j["prompt_eval_count"], 10);
  EXPECT_EQ(j["eval_count"], 4);
  EXPECT_FALSE(j.contains("context"));
  EXPECT_TRUE(j["qwenvl"]["grounding"].is_array());
  ASSERT_EQ(engine_.submitted(), 1u);
  EXPECT_EQ(engine_.requests[0].messages[0].content[0].text, "hi");
}

TEST_F(OllamaApiTest, ChatStreamsNewlineDelimitedJsonByDefault) {
  engine_.script.finish = FinishReason::kLength;
  StartServer();
  auto res = Post("/api/chat", ChatBody());  // no "stream": ollama streams
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->header("content-type"), "application/x-ndjson");
  EXPECT_EQ(res->header("transfer-encoding"), "chunked");
  const auto lines = Lines(res->body);
  ASSERT_GE(lines.size(), 2u);
  std::string text;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["done"], false) << lines[i];
    EXPECT_EQ(lines[i]["model"], "qwen2.5vl:3b");
    EXPECT_TRUE(IsTimestamp(lines[i]["created_at"]));
    EXPECT_EQ(lines[i]["message"]["role"], "assistant");
    EXPECT_FALSE(lines[i].contains("total_duration"));
    text += lines[i]["message"]["content"].get<std::string>();
  }
  EXPECT_EQ(text, "Hello, world!");
  const json& last = lines.back();
  EXPECT_EQ(last["done"], true);
  EXPECT_EQ(last["done_reason"], "length");
  EXPECT_EQ(last["message"]["content"], "");
  ExpectStatistics(last);
  EXPECT_EQ(last["eval_count"], 4);
}

TEST_F(OllamaApiTest, GenerateWholeStreamedAndContinued) {
  engine_.script.prompt_ids = {65, 66, 67};
  StartServer();
  auto whole =
      Post("/api/generate",
           {{"model", "m"}, {"prompt", "why?"}, {"system", "be brief"}, {"stream", false}});
  ASSERT_TRUE(whole);
  ASSERT_EQ(whole->status, 200) << whole->body;
  const json j = json::parse(whole->body);
  EXPECT_EQ(j["response"], "Hello, world!");
  EXPECT_EQ(j["done"], true);
  EXPECT_EQ(j["done_reason"], "stop");
  EXPECT_FALSE(j.contains("message"));
  ExpectStatistics(j);
  // The conversation's tokens: the prompt's, then the answer's (the fake's 'a', 'b', ...).
  const std::vector<TokenId> context = {65, 66, 67, 'a', 'b', 'c', 'd'};
  EXPECT_EQ(j["context"], json(context));
  ASSERT_EQ(engine_.submitted(), 1u);
  EXPECT_EQ(engine_.requests[0].messages[0].role, "system");
  EXPECT_EQ(engine_.requests[0].messages[1].content[0].text, "why?");

  auto streamed = Post("/api/generate", {{"model", "m"}, {"prompt", "and?"}, {"context", context}});
  ASSERT_TRUE(streamed);
  ASSERT_EQ(streamed->status, 200) << streamed->body;
  const auto lines = Lines(streamed->body);
  ASSERT_GE(lines.size(), 2u);
  std::string text;
  for (size_t i = 0; i + 1 < lines.size(); ++i) text += lines[i]["response"].get<std::string>();
  EXPECT_EQ(text, "Hello, world!");
  EXPECT_EQ(lines.back()["response"], "");
  // The earlier conversation, then this turn through the template, as the model's input.
  ASSERT_EQ(engine_.submitted(), 2u);
  const auto& ids = engine_.requests[1].prompt_ids;
  ASSERT_TRUE(ids);
  std::vector<TokenId> expected = context;
  for (char c : std::string("user:and?\n")) expected.push_back(c);
  EXPECT_EQ(*ids, expected);
  std::vector<TokenId> next = expected;
  for (char c : std::string("abcd")) next.push_back(c);
  EXPECT_EQ(lines.back()["context"], json(next));
}

TEST_F(OllamaApiTest, GenerateRaw) {
  StartServer();
  auto res =
      Post("/api/generate",
           {{"model", "m"}, {"prompt", "<|im_start|>user\nhi"}, {"raw", true}, {"stream", false}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_FALSE(json::parse(res->body).contains("context"));
  ASSERT_EQ(engine_.submitted(), 1u);
  const std::string prompt = "<|im_start|>user\nhi";
  EXPECT_EQ(*engine_.requests[0].prompt_ids, std::vector<TokenId>(prompt.begin(), prompt.end()));
}

TEST_F(OllamaApiTest, LoadRequestsAreAnsweredWithoutRunningTheModel) {
  StartServer();
  for (const auto& [path, body] : std::vector<std::pair<std::string, json>>{
           {"/api/chat", {{"model", "m"}}},
           {"/api/chat", {{"model", "m"}, {"messages", json::array()}}},
           {"/api/generate", {{"model", "m"}}},
           {"/api/generate", {{"model", "m"}, {"keep_alive", 0}}}}) {
    auto res = Post(path, body);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
    const json j = json::parse(res->body);
    EXPECT_EQ(j["done"], true);
    EXPECT_EQ(j["done_reason"], "load");
    EXPECT_EQ(j["model"], "m");
    if (path == "/api/chat") {
      EXPECT_EQ(j["message"]["content"], "");
    } else {
      EXPECT_EQ(j["response"], "");
    }
  }
  EXPECT_EQ(engine_.submitted(), 0u);
}

TEST_F(OllamaApiTest, ImagesFormatAndOptionsReachTheEngine) {
  ServerOptions options;
  options.max_body_bytes = 1 << 20;
  StartServer(options);
  json body = ChatBody(false);
  body["messages"][0]["images"] = {"AAEC"};
  body["format"] = {{"type", "object"}, {"properties", {{"n", {{"type", "integer"}}}}}};
  body["options"] = {{"temperature", 0}, {"num_predict", 16}, {"seed", 7}, {"num_gpu", 99}};
  body["keep_alive"] = "10m";
  auto res = Post("/api/chat", body);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  ASSERT_EQ(engine_.submitted(), 1u);
  const Request& r = engine_.requests[0];
  ASSERT_EQ(r.messages[0].content.size(), 2u);
  EXPECT_EQ(r.messages[0].content[0].media.bytes, (std::vector<uint8_t>{0, 1, 2}));
  EXPECT_EQ(r.constraint.kind, OutputConstraint::Kind::kJsonSchema);
  EXPECT_EQ(json::parse(r.constraint.text), body["format"]);
  EXPECT_EQ(*r.sampling.temperature, 0.0f);
  EXPECT_EQ(r.sampling.max_new_tokens, 16);
  EXPECT_EQ(*r.sampling.seed, 7u);
  body["format"] = "json";
  ASSERT_EQ(Post("/api/chat", body)->status, 200);
  EXPECT_EQ(engine_.requests[1].constraint.kind, OutputConstraint::Kind::kJsonObject);
}

TEST_F(OllamaApiTest, HostileBodiesGetOllamaErrorsAndNothingElseIsDisturbed) {
  ServerOptions options;
  options.max_body_bytes = 4096;
  StartServer(options);
  auto chat_with = [](json extra) {
    json body = ChatBody(false);
    body.update(extra);
    return body;
  };
  ExpectError(Fetch(port_, "POST", "/api/chat", "{oops"), 400, "not valid JSON");
  ExpectError(Fetch(port_, "POST", "/api/generate", "[]"), 400, "body must be a JSON object");
  ExpectError(Post("/api/chat", chat_with({{"options", {{"temperature", "hot"}}}})), 400,
              "options.temperature must be a number");
  ExpectError(Post("/api/chat", chat_with({{"options", {{"num_predict", 2.5}}}})), 400,
              "options.num_predict must be an integer");
  ExpectError(Post("/api/chat", chat_with({{"stream", "no"}})), 400, "stream must be a boolean");
  ExpectError(Post("/api/chat", chat_with({{"format", "yaml"}})), 400, "format");
  ExpectError(Post("/api/chat", chat_with({{"tools", {{{"type", "function"}}}}})), 400, "tools");
  ExpectError(Post("/api/chat", chat_with({{"think", true}})), 400, "thinking");
  ExpectError(Post("/api/chat", chat_with({{"keep_alive", "for ever"}})), 400, "keep_alive");
  ExpectError(Post("/api/chat", {{"messages", json::array()}}), 400, "model is required");
  json bad_image = ChatBody(false);
  bad_image["messages"][0]["images"] = {"not base64!"};
  ExpectError(Post("/api/chat", bad_image), 400, "messages[0].images[0]");
  ExpectError(Post("/api/generate", {{"model", "m"}, {"prompt", "x"}, {"suffix", "y"}}), 400,
              "suffix");
  ExpectError(
      Post("/api/generate", {{"model", "m"}, {"prompt", "x"}, {"raw", true}, {"images", {"AAEC"}}}),
      400, "raw");
  // An image past the body limit: 413 before the body is read, in ollama's shape.
  json huge = ChatBody(false);
  huge["messages"][0]["images"] = {std::string(8000, 'A')};
  ExpectError(Post("/api/chat", huge), 413, "larger than the limit");
  EXPECT_EQ(engine_.submitted(), 0u);
  // The server is still fine after all that.
  auto ok = Post("/api/chat", ChatBody(false));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(OllamaApiTest, EngineErrorsKeepTheirStatusEvenWhenStreaming) {
  engine_.script.error = Error(ErrorCode::kCorruptFile, "cannot decode the image: not a PNG");
  StartServer();
  for (bool stream : {false, true}) {
    ExpectError(Post("/api/chat", ChatBody(stream)), 400, "cannot decode the image");
  }
}

TEST_F(OllamaApiTest, QueueFullIsRefusedInOllamasShape) {
  engine_.max_in_flight = 1;
  engine_.script.piece_delay_ms = 100;
  StartServer();
  std::thread slow([&] {
    auto res = Post("/api/chat", ChatBody(false));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
  });
  ASSERT_TRUE(WaitFor([&] { return engine_.in_flight() == 1; }));
  ExpectError(Post("/api/chat", ChatBody(false)), 429, "busy");
  slow.join();
}

TEST_F(OllamaApiTest, ClientDisconnectCancelsStreamedAndWholeAnswers) {
  engine_.script.pieces = std::vector<std::string>(400, "tok ");
  engine_.script.piece_delay_ms = 10;  // 4 s if nobody cancels
  StartServer();
  {
    TestConnection c(port_);
    ASSERT_TRUE(c.SendRaw(RequestBytes("/api/chat", ChatBody())));
    char bytes[64];
    ASSERT_GT(::recv(c.fd(), bytes, sizeof(bytes), 0), 0);  // the stream has started
  }                                                         // the client goes away
  ASSERT_TRUE(WaitFor([&] { return engine_.completed_count == 1; }));
  EXPECT_EQ(engine_.cancelled_count, 1);
  const auto start = std::chrono::steady_clock::now();
  {
    TestConnection c(port_, 300ms);
    ASSERT_TRUE(c.SendRaw(
        RequestBytes("/api/generate", {{"model", "m"}, {"prompt", "x"}, {"stream", false}})));
    EXPECT_FALSE(c.Read());  // gives up and closes
  }
  ASSERT_TRUE(WaitFor([&] { return engine_.completed_count == 2; }));
  EXPECT_EQ(engine_.cancelled_count, 2);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

// Past the shutdown timeout a running stream ends with an {"error"} line, which ollama's clients
// raise.
TEST_F(OllamaApiTest, DrainDeadlineEndsStreamsWithAnErrorLine) {
  engine_.script.pieces = std::vector<std::string>(1000, "tok ");
  engine_.script.piece_delay_ms = 10;
  ServerOptions o;
  o.shutdown_timeout = 300ms;
  StartServer(o);
  TestConnection c(port_);
  ASSERT_TRUE(c.SendRaw(RequestBytes("/api/chat", ChatBody())));
  ASSERT_TRUE(WaitFor([&] { return engine_.answering_count == 1; }));
  server_->Drain();
  auto reply = c.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200);
  const auto lines = Lines(reply->body);
  ASSERT_GE(lines.size(), 1u);
  EXPECT_THAT(lines.back().value("error", ""), HasSubstr("shutting down"));
  EXPECT_EQ(lines.back().size(), 1u);
  thread_.join();
  EXPECT_TRUE(WaitFor([&] { return engine_.cancelled_count == 1; }));
}

TEST_F(OllamaApiTest, ListingsShowAndVersion) {
  StartServer();
  auto tags = Get("/api/tags");
  ASSERT_TRUE(tags);
  ASSERT_EQ(tags->status, 200);
  const json t = json::parse(tags->body);
  ASSERT_EQ(t["models"].size(), 1u);
  const json& model = t["models"][0];
  EXPECT_EQ(model["name"], "fake-model:latest");
  EXPECT_EQ(model["model"], "fake-model:latest");
  EXPECT_EQ(model["digest"].get<std::string>().size(), 64u);
  EXPECT_EQ(model["details"]["family"], "qwen25vl");
  EXPECT_TRUE(std::regex_match(model["modified_at"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.0{9}Z)")));
  auto ps = Get("/api/ps");
  ASSERT_TRUE(ps);
  const json p = json::parse(ps->body);
  EXPECT_EQ(p["models"][0]["name"], "fake-model:latest");
  EXPECT_EQ(p["models"][0]["context_length"], 4096);
  EXPECT_TRUE(p["models"][0]["expires_at"].is_string());
  auto version = Get("/api/version");
  ASSERT_TRUE(version);
  EXPECT_TRUE(std::regex_match(json::parse(version->body)["version"].get<std::string>(),
                               std::regex(R"(\d+\.\d+\.\d+)")));
  for (const json& body : {json{{"model", "fake-model"}}, json{{"name", "anything:7b"}}}) {
    auto show = Post("/api/show", body);
    ASSERT_TRUE(show);
    ASSERT_EQ(show->status, 200) << show->body;
    const json s = json::parse(show->body);
    EXPECT_EQ(s["capabilities"], json({"completion", "vision"}));
    EXPECT_EQ(s["model_info"]["qwen25vl.context_length"], 4096);
    EXPECT_TRUE(s["modelfile"].is_string());
  }
  ExpectError(Post("/api/show", json::object()), 400, "model is required");
  // HEAD answers as GET without a body (ollama's clients probe "HEAD /"); the web page stays at /.
  for (const std::string target : {"/api/version", "/"}) {
    const std::string head = HeadResponse(target);
    const size_t end = head.find("\r\n\r\n");
    ASSERT_NE(end, std::string::npos) << head;
    EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
    EXPECT_EQ(head.substr(end + 4), "") << head;
  }
  auto page = Get("/");
  ASSERT_TRUE(page);
  EXPECT_THAT(page->body, HasSubstr("<script src=\"/app.js\">"));
}

TEST_F(OllamaApiTest, UnknownAndUnsupportedRoutes) {
  StartServer();
  ExpectError(Get("/api/chat"), 405, "use POST for /api/chat");
  ExpectError(Post("/api/tags", json::object()), 405, "use GET for /api/tags");
  ExpectError(Get("/api/show"), 405, "use POST");
  ExpectError(Post("/api/pull", {{"model", "llama3"}}), 501, "serves the one model folder");
  ExpectError(Fetch(port_, "DELETE", "/api/delete", R"({"model": "x"})"), 501, "not supported");
  ExpectError(Post("/api/embed", {{"model", "m"}, {"input", "x"}}), 501, "embeddings");
  ExpectError(Get("/api/nothing"), 404, "no route for GET /api/nothing");
  ExpectError(Get("/api"), 404, "no route");
}

// ollama's documented curl examples send JSON as form data (curl -d): /api/ reads the body as JSON
// whatever its Content-Type, as ollama does; other sites' browsers are still refused by Origin.
TEST_F(OllamaApiTest, BodiesAreJsonWhateverTheContentType) {
  StartServer();
  for (const char* type : {"application/x-www-form-urlencoded", "text/plain"}) {
    auto res = Post("/api/chat", ChatBody(false), {{"Content-Type", type}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << type << ": " << res->body;
  }
  ExpectError(Post("/api/chat", ChatBody(false), {{"Origin", "https://evil.example"}}), 403,
              "cross-origin");
}

TEST_F(OllamaApiTest, ApiKeyGuardsTheOllamaApi) {
  ServerOptions options;
  options.api_key = "secret";
  StartServer(options);
  ExpectError(Get("/api/tags"), 401, "Incorrect API key");
  ExpectError(Post("/api/chat", ChatBody(false)), 401, "Incorrect API key");
  auto ok = Get("/api/tags", {{"Authorization", "Bearer secret"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

}  // namespace
}  // namespace qwenvl::server
