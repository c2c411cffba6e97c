// The server against clients that lie, stall, flood or come from elsewhere: each gets a clear
// answer or a closed connection, fast, and the server goes on serving everybody else.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/request_policy.h"
#include "server_fixture.h"

namespace qwenvl::server {
namespace {

using nlohmann::json;
using testing::Fetch;
using ::testing::HasSubstr;
using testing::Reply;
using testing::ServerTest;
using testing::TestConnection;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string ChunkedBody(size_t total, size_t chunk) {
  std::string out;
  const std::string piece(chunk, 'x');
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", chunk);
  for (size_t sent = 0; sent < total; sent += chunk) out += size + piece + "\r\n";
  return out + "0\r\n\r\n";
}

TEST_F(ServerTest, ChunkedBodyOverTheLimitIs413BeforeItIsRead) {
  ServerOptions o;
  o.max_body_bytes = 64 << 10;
  StartServer(o);
  TestConnection c(port_);
  ASSERT_TRUE(c.SendRaw(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n"));
  // Sends up to 16 MB in 64 KB chunks; the server answers once 64 KB went past and stops reading.
  const std::string chunk = ChunkedBody(64 << 10, 64 << 10);
  const std::string one = chunk.substr(0, chunk.size() - 5);  // without the last chunk
  for (int i = 0; i < 256; ++i) {
    if (!c.SendRaw(one)) break;  // the server closed: expected well before the end
  }
  auto reply = c.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 413);
  EXPECT_EQ(json::parse(reply->body)["error"]["code"], "body_too_large");
  EXPECT_EQ(engine_.submitted(), 0u);
  EXPECT_EQ(Get("/health")->status, 200);
}

TEST_F(ServerTest, ContentLengthOverTheLimitIs413WithoutWaitingForTheBody) {
  ServerOptions o;
  o.max_body_bytes = 1000;
  StartServer(o);
  TestConnection c(port_);
  const auto t0 = Clock::now();
  ASSERT_TRUE(c.SendRaw(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 500000000\r\n\r\n{"));
  auto reply = c.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 413);
  EXPECT_LT(Clock::now() - t0, 2s);
}

TEST_F(ServerTest, ConflictingFramingHeadersAre400) {
  StartServer();
  const std::string body = Simple().dump();
  const std::string cl = std::to_string(body.size());
  for (const std::string& headers :
       {"Content-Length: " + cl + "\r\nContent-Length: " + std::to_string(body.size() + 1) + "\r\n",
        "Content-Length: " + cl + "\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: " + cl + "\r\n",
        std::string("Content-Length: -5\r\n"), std::string("Content-Length: 12abc\r\n"),
        std::string("Content-Length: 99999999999999999999999\r\n")}) {
    TestConnection c(port_);
    ASSERT_TRUE(
        c.SendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                  "Content-Type: application/json\r\n" +
                  headers + "\r\n" + body));
    auto reply = c.Read();
    ASSERT_TRUE(reply) << headers;
    EXPECT_EQ(reply->status, 400) << headers;
  }
  {  // an unknown transfer coding cannot be framed
    TestConnection c(port_);
    ASSERT_TRUE(
        c.SendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                  "Content-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n"));
    auto reply = c.Read();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 501);
  }
  // Two equal Content-Length values say one thing: accepted.
  TestConnection c(port_);
  ASSERT_TRUE(c.SendRaw(ChatRequestBytes(Simple(), "Content-Length: " + cl + "\r\n")));
  auto reply = c.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200);
}

TEST_F(ServerTest, ShortBodyAfterContentLengthIsCutAtTheBodyDeadline) {
  ServerOptions o;
  o.body_timeout = 300ms;
  StartServer(o);
  TestConnection c(port_);
  const auto t0 = Clock::now();
  ASSERT_TRUE(c.SendRaw(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 100\r\n\r\n{\"model\""));
  EXPECT_TRUE(c.ClosedByServer());
  EXPECT_LT(Clock::now() - t0, 3s);
  EXPECT_EQ(engine_.submitted(), 0u);
  EXPECT_TRUE(WaitFor(
      [&] { return LogText().find("POST /v1/chat/completions 408") != std::string::npos; }));
}

TEST_F(ServerTest, PipelinedRequestsAreAllAnsweredInOrder) {
  StartServer();
  for (int count : {3, 50}) {
    TestConnection c(port_);
    std::string bytes;
    for (int i = 0; i < count; ++i) {
      json body = Simple();
      body["messages"][0]["content"] = "question " + std::to_string(i);
      bytes += ChatRequestBytes(body);
      bytes += "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    }
    ASSERT_TRUE(c.SendRaw(bytes));
    for (int i = 0; i < count; ++i) {
      auto chat = c.Read();
      ASSERT_TRUE(chat) << "chat " << i << " of " << count;
      EXPECT_EQ(chat->status, 200);
      EXPECT_EQ(json::parse(chat->body)["choices"][0]["message"]["content"], "Hello, world!");
      auto health = c.Read();
      ASSERT_TRUE(health) << "health " << i;
      EXPECT_EQ(json::parse(health->body)["status"], "ok");
    }
  }
  // The engine saw the questions in the order they were sent.
  ASSERT_EQ(engine_.submitted(), 53u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(engine_.requests[3 + i].messages[0].content[0].text, "question " + std::to_string(i));
  }
}

TEST_F(ServerTest, WrongContentTypeIs415WithTheRightMessage) {
  ServerOptions o;
  o.max_body_bytes = 1 << 20;
  StartServer(o);
  const std::string big(9000, ' ');  // curl -d with a body over 8 KB
  auto form = Fetch(port_, "POST", "/v1/chat/completions", Simple().dump() + big,
                    {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 415);
  EXPECT_THAT(json::parse(form->body)["error"]["message"].get<std::string>(),
              HasSubstr("application/json"));
  auto text = Fetch(port_, "POST", "/v1/chat/completions", Simple().dump(),
                    {{"Content-Type", "text/plain;charset=UTF-8"}});
  ASSERT_TRUE(text);
  EXPECT_EQ(text->status, 415);
  TestConnection c(port_);
  const std::string body = Simple().dump();
  ASSERT_TRUE(c.SendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body));
  auto none = c.Read();
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 415);
  EXPECT_EQ(engine_.submitted(), 0u);
  auto ok = Fetch(port_, "POST", "/v1/chat/completions", Simple().dump(),
                  {{"Content-Type", "Application/JSON; charset=utf-8"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ServerTest, OtherWebSitesCannotDriveTheServer) {
  StartServer();
  // What a page elsewhere can send without a preflight: text/plain, with its Origin.
  auto foreign = Fetch(port_, "POST", "/v1/chat/completions", Simple().dump(),
                       {{"Origin", "https://evil.example"}, {"Content-Type", "text/plain"}});
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 403);
  auto foreign_json = Chat(Simple(), {{"Origin", "https://evil.example"}});
  ASSERT_TRUE(foreign_json);
  EXPECT_EQ(foreign_json->status, 403);
  EXPECT_EQ(foreign_json->header("access-control-allow-origin"), "");
  auto preflight =
      Fetch(port_, "OPTIONS", "/v1/chat/completions", "",
            {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"}});
  ASSERT_TRUE(preflight);
  EXPECT_EQ(preflight->header("access-control-allow-origin"), "");
  EXPECT_EQ(engine_.submitted(), 0u);
  // The built-in page is the server's own origin.
  const std::string self = "http://127.0.0.1:" + std::to_string(port_);
  auto own = Fetch(port_, "POST", "/v1/chat/completions", Simple().dump(),
                   {{"Origin", self}, {"Host", "127.0.0.1:" + std::to_string(port_)}});
  ASSERT_TRUE(own);
  EXPECT_EQ(own->status, 200);
  EXPECT_EQ(own->header("access-control-allow-origin"), "");
}

TEST_F(ServerTest, CorsOriginLetsOneWebApplicationIn) {
  ServerOptions o;
  o.cors_origin = "https://app.example";
  StartServer(o);
  auto preflight =
      Fetch(port_, "OPTIONS", "/v1/chat/completions", "",
            {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "POST"}});
  ASSERT_TRUE(preflight);
  EXPECT_EQ(preflight->status, 204);
  EXPECT_EQ(preflight->header("access-control-allow-origin"), "https://app.example");
  EXPECT_THAT(preflight->header("access-control-allow-headers"), HasSubstr("Authorization"));
  auto ok = Chat(Simple(), {{"Origin", "https://app.example"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->header("access-control-allow-origin"), "https://app.example");
  auto other = Chat(Simple(), {{"Origin", "https://other.example"}});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 403);
}

TEST_F(ServerTest, MetricsNeedTheKeyUnlessPublic) {
  ServerOptions o;
  o.api_key = "k3y";
  StartServer(o);
  EXPECT_EQ(Get("/metrics")->status, 401);
  EXPECT_EQ(Get("/metrics", {{"Authorization", "Bearer k3"}})->status, 401);
  EXPECT_EQ(Get("/metrics", {{"Authorization", "Bearer k3y"}})->status, 200);
  EXPECT_EQ(Get("/health")->status, 200);  // load balancers probe without a key
  server_->Stop();
  thread_.join();
  server_.reset();
  o.metrics_public = true;
  StartServer(o);
  EXPECT_EQ(Get("/metrics")->status, 200);
  EXPECT_EQ(Get("/v1/models")->status, 401);
}

TEST(RequestPolicyTest, ApiKeyComparison) {
  EXPECT_TRUE(ApiKeyMatches("anything", ""));
  EXPECT_TRUE(ApiKeyMatches("Bearer s3cret", "s3cret"));
  EXPECT_FALSE(ApiKeyMatches("Bearer s3cre", "s3cret"));
  EXPECT_FALSE(ApiKeyMatches("Bearer s3cret ", "s3cret"));
  EXPECT_FALSE(ApiKeyMatches("s3cret", "s3cret"));
  EXPECT_FALSE(ApiKeyMatches("", "s3cret"));
  EXPECT_FALSE(ApiKeyMatches(std::string("Bearer s3cret\0x", 15), "s3cret"));
}

TEST(RequestPolicyTest, OriginRules) {
  EXPECT_TRUE(OriginMatches("http://127.0.0.1:8080", "127.0.0.1:8080", ""));
  EXPECT_TRUE(OriginMatches("HTTP://LocalHost:8080", "localhost:8080", ""));
  EXPECT_FALSE(OriginMatches("http://127.0.0.1:8081", "127.0.0.1:8080", ""));
  EXPECT_FALSE(OriginMatches("null", "127.0.0.1:8080", ""));
  EXPECT_FALSE(OriginMatches("https://evil.example", "127.0.0.1:8080", ""));
  EXPECT_TRUE(OriginMatches("https://evil.example", "127.0.0.1:8080", "*"));
  EXPECT_TRUE(OriginMatches("https://app.example", "", "https://app.example"));
  EXPECT_FALSE(OriginMatches("https://app.example.evil", "", "https://app.example"));
}

TEST_F(ServerTest, PortInUseIsAnErrorNamingIt) {
  StartServer();
  ServerOptions o;
  o.port = port_;
  HttpServer second(engine_, o);
  try {
    second.Bind();
    FAIL() << "bound a port another server listens on";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(std::to_string(port_)));
    EXPECT_THAT(e.what(), HasSubstr("in use"));
  }
}

TEST_F(ServerTest, OutOfRangeOptionsAreRefused) {
  for (int port : {-1, 65536, 70000}) {
    ServerOptions o;
    o.port = port;
    EXPECT_THROW(HttpServer(engine_, o), Error) << port;
  }
  ServerOptions o;
  o.max_connections = 0;
  EXPECT_THROW(HttpServer(engine_, o), Error);
}

TEST_F(ServerTest, ConnectionsPastTheLimitGetA503AndOthersAreServedAfter) {
  ServerOptions o;
  o.max_connections = 8;
  StartServer(o);
  std::vector<std::unique_ptr<TestConnection>> held;
  for (int i = 0; i < 8; ++i) {
    held.push_back(std::make_unique<TestConnection>(port_));
    ASSERT_TRUE(held.back()->SendRaw("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(held.back()->Read());  // accepted and kept alive
  }
  auto refused = Get("/health");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(json::parse(refused->body)["error"]["code"], "too_many_connections");
  held.clear();
  ASSERT_TRUE(WaitFor([&] {
    auto r = Get("/health");
    return r && r->status == 200;
  }));
}

// 200 clients trickle a header line each now and then; requests from others are answered at once,
// and the trickling clients are cut off at the header deadline.
TEST_F(ServerTest, SlowClientsDoNotExhaustTheServer) {
  ServerOptions o;
  o.header_timeout = 4s;
  StartServer(o);
  std::vector<std::unique_ptr<TestConnection>> slow;
  for (int i = 0; i < 200; ++i) {
    slow.push_back(std::make_unique<TestConnection>(port_, 5s));
    ASSERT_TRUE(slow.back()->SendRaw("POST /v1/chat/completions HTTP/1.1\r\n"));
  }
  for (int round = 0; round < 3; ++round) {
    for (auto& c : slow) c->SendRaw("X-Slow: " + std::to_string(round) + "\r\n");
    auto reply = Chat(Simple());
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);
    // Served while every slow client still holds its connection (none was cut yet).
    EXPECT_EQ(LogText().find(" 408 "), std::string::npos);
    std::this_thread::sleep_for(200ms);
  }
  // Past the header deadline each slow client finds its connection closed.
  int closed = 0;
  for (auto& c : slow) closed += c->ClosedByServer() ? 1 : 0;
  EXPECT_EQ(closed, 200);
}

TEST_F(ServerTest, IdleConnectionsAreClosedAfterTheIdleTimeout) {
  ServerOptions o;
  o.idle_timeout = 300ms;
  StartServer(o);
  TestConnection c(port_, 3s);
  const auto t0 = Clock::now();
  EXPECT_TRUE(c.ClosedByServer());
  EXPECT_LT(Clock::now() - t0, 2s);
}

TEST_F(ServerTest, HeadAnswersCarryNoBody) {
  StartServer();
  TestConnection c(port_);
  ASSERT_TRUE(c.SendRaw("HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string raw;
  char chunk[4096];
  for (;;) {  // everything until the server closes
    pollfd p{c.fd(), POLLIN, 0};
    ASSERT_GT(::poll(&p, 1, 5000), 0);
    const ssize_t n = ::recv(c.fd(), chunk, sizeof(chunk), 0);
    if (n <= 0) break;
    raw.append(chunk, static_cast<size_t>(n));
  }
  const size_t end = raw.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos) << raw;
  EXPECT_EQ(raw.substr(end + 4), "");  // a body here would be read as the next response
  EXPECT_THAT(raw, HasSubstr("200 OK"));
  EXPECT_THAT(raw, ::testing::Not(HasSubstr("Content-Length: 0\r\n")));
}

TEST_F(ServerTest, HeadersOverTheLimitAre431) {
  StartServer();
  TestConnection c(port_);
  ASSERT_TRUE(c.SendRaw("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(40000, 'a') +
                        "\r\n\r\n"));
  auto reply = c.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 431);
}

TEST_F(ServerTest, GarbageIs400AndTheServerGoesOn) {
  StartServer();
  for (const std::string& junk :
       {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),  // a TLS hello
        std::string("GET / HTTP/9.9\r\n\r\n"), std::string("GET\r\n\r\n"),
        std::string("POST /v1/chat/completions HTTP/1.1\r\nHost x\r\n\r\n")}) {
    TestConnection c(port_);
    c.SendRaw(junk);
    auto reply = c.Read();
    if (reply) {
      EXPECT_EQ(reply->status, 400);
    }
  }
  EXPECT_EQ(Get("/health")->status, 200);
}

TEST_F(ServerTest, EveryRequestIsLoggedOnce) {
  engine_.script.prompt_tokens = 17;
  StartServer();
  ASSERT_EQ(Chat(Simple())->status, 200);
  ASSERT_EQ(Get("/nothing")->status, 404);
  // The line is written once the response went out: the client may read it first.
  std::string log;
  ASSERT_TRUE(WaitFor([&] {
    log = LogText();
    return std::count(log.begin(), log.end(), '\n') >= 2;
  }));
  EXPECT_THAT(log, HasSubstr("POST /v1/chat/completions 200 prompt=17 completion=4 cached=0"));
  EXPECT_THAT(log, HasSubstr("GET /nothing 404"));
  EXPECT_THAT(log, HasSubstr("client=127.0.0.1:"));
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 2);
}

TEST_F(ServerTest, JsonRequestLog) {
  ServerOptions o;
  o.log_format = LogFormat::kJson;
  StartServer(o);
  ASSERT_EQ(Chat(Simple())->status, 200);
  std::string log;
  ASSERT_TRUE(WaitFor([&] { return !(log = LogText()).empty(); }));
  const json line = json::parse(log.substr(0, log.find('\n')));
  EXPECT_EQ(line["status"], 200);
  EXPECT_EQ(line["path"], "/v1/chat/completions");
  EXPECT_EQ(line["completion_tokens"], 4);
  EXPECT_EQ(line["id"], 1);
  EXPECT_TRUE(line["ms"].is_number());
}

// SIGTERM's path: queued requests get 503 at once (before the running ones end), running streams
// finish, Listen returns.
TEST_F(ServerTest, DrainRefusesQueuedAndLetsRunningFinish) {
  engine_.parallel = 2;
  engine_.script.pieces = std::vector<std::string>(30, "tok ");
  engine_.script.piece_delay_ms = 40;  // 1.2 s each
  ServerOptions o;
  o.shutdown_timeout = 20s;
  StartServer(o);
  std::vector<std::unique_ptr<TestConnection>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<TestConnection>(port_, 20s));
    ASSERT_TRUE(clients.back()->SendRaw(ChatRequestBytes(Simple(true))));
  }
  // Two run and two wait queued; on a loaded machine the runs take their slots some time after
  // being submitted, and a request that has not is still queued when the drain comes.
  ASSERT_TRUE(WaitFor([&] { return engine_.submitted() == 4 && engine_.running() == 2; }));
  auto idle = std::make_unique<TestConnection>(port_);  // connected, never sends
  server_->Drain();
  std::vector<std::optional<Reply>> replies(4);
  std::vector<Clock::time_point> ended(4);
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&, i] {
      replies[i] = clients[i]->Read();
      ended[i] = Clock::now();
    });
  }
  for (auto& t : readers) t.join();
  int refused = 0, finished = 0;
  Clock::time_point last_refusal = Clock::time_point::min();
  Clock::time_point first_finish = Clock::time_point::max();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(replies[i]) << i;
    if (replies[i]->status == 503) {
      ++refused;
      last_refusal = std::max(last_refusal, ended[i]);
      EXPECT_EQ(json::parse(replies[i]->body)["error"]["code"], "server_shutting_down");
    } else {
      EXPECT_EQ(replies[i]->status, 200);
      const auto events = Events(replies[i]->body);
      ASSERT_GE(events.size(), 2u);
      EXPECT_EQ(events.back(), "[DONE]");
      EXPECT_EQ(events[events.size() - 2]["choices"][0]["finish_reason"], "stop");
      first_finish = std::min(first_finish, ended[i]);
      ++finished;
    }
  }
  EXPECT_EQ(refused, 2);
  EXPECT_EQ(finished, 2);
  EXPECT_LT(last_refusal, first_finish);  // the queued did not wait for the running
  thread_.join();  // Listen returned: no connection left, the idle one included
  EXPECT_FALSE(Fetch(port_, "GET", "/health"));  // no longer accepting
}

// Past the shutdown timeout running streams end with an error event and [DONE].
TEST_F(ServerTest, DrainDeadlineEndsStreamsCleanly) {
  engine_.script.pieces = std::vector<std::string>(1000, "tok ");
  engine_.script.piece_delay_ms = 10;  // 10 s if nobody stops it
  ServerOptions o;
  o.shutdown_timeout = 300ms;
  StartServer(o);
  std::vector<std::unique_ptr<TestConnection>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<TestConnection>(port_));
    ASSERT_TRUE(clients.back()->SendRaw(ChatRequestBytes(Simple(i != 2))));
  }
  // Every request has its first piece of text: the streams have started their answers (the
  // non-streamed one has nothing to send before its end), however slow the machine.
  ASSERT_TRUE(WaitFor([&] { return engine_.answering_count == 3; }));
  const auto t0 = Clock::now();
  server_->Drain();
  for (int i = 0; i < 3; ++i) {
    auto reply = clients[i]->Read();
    ASSERT_TRUE(reply);
    if (i == 2) {  // not streamed: no answer yet, so a 503
      EXPECT_EQ(reply->status, 503);
      continue;
    }
    EXPECT_EQ(reply->status, 200);
    const auto events = Events(reply->body);
    ASSERT_GE(events.size(), 2u);
    EXPECT_EQ(events.back(), "[DONE]");
    EXPECT_EQ(events[events.size() - 2].value("/error/code"_json_pointer, ""),
              "server_shutting_down")
        << reply->body.substr(reply->body.size() - std::min<size_t>(reply->body.size(), 400));
  }
  thread_.join();
  EXPECT_LT(Clock::now() - t0, 8s);  // the deadline, the flush and the lingering closes
  EXPECT_TRUE(WaitFor([&] { return engine_.cancelled_count == 3; }));
}

}  // namespace
}  // namespace qwenvl::server
