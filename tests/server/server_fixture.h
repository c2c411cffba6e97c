// A server on an ephemeral port in front of the scripted FakeEngineClient, for the HTTP tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "fake_engine_client.h"
#include "server/http_server.h"
#include "test_client.h"

namespace qwenvl::server::testing {

class ServerTest : public ::testing::Test {
 protected:
  using json = nlohmann::json;

  void StartServer(ServerOptions options = {}) {
    options.port = 0;
    if (options.max_body_bytes == (64LL << 20)) options.max_body_bytes = 4096;
    if (options.log_file == stderr) {
      log_ = std::tmpfile();
      options.log_file = log_;
    }
    server_ = std::make_unique<HttpServer>(engine_, options);
    port_ = server_->Bind();
    thread_ = std::thread([this] { server_->Listen(); });
  }
  void TearDown() override {
    if (server_) server_->Stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
    if (log_) std::fclose(log_);
  }
  // The request log written so far.
  std::string LogText() {
    std::fflush(log_);
    std::rewind(log_);
    std::string text;
    char chunk[4096];
    size_t n;
    while ((n = std::fread(chunk, 1, sizeof(chunk), log_)) > 0) text.append(chunk, n);
    std::fseek(log_, 0, SEEK_END);
    return text;
  }
  std::optional<Reply> Chat(const json& body, std::map<std::string, std::string> headers = {}) {
    return Fetch(port_, "POST", "/v1/chat/completions", body.dump(), std::move(headers));
  }
  std::optional<Reply> Get(const std::string& target,
                           std::map<std::string, std::string> headers = {}) {
    return Fetch(port_, "GET", target, "", std::move(headers));
  }
  static json Simple(bool stream = false) {
    return {{"model", "fake-model"},
            {"messages", {{{"role", "user"}, {"content", "hi"}}}},
            {"stream", stream}};
  }
  // The JSON payloads of an SSE body, "[DONE]" included as a string.
  static std::vector<json> Events(const std::string& body) {
    std::vector<json> events;
    size_t pos = 0, end;
    while ((end = body.find("\n\n", pos)) != std::string::npos) {
      const std::string event = body.substr(pos, end - pos);
      pos = end + 2;
      EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
      const std::string data = event.substr(6);
      events.push_back(data == "[DONE]" ? json("[DONE]") : json::parse(data));
    }
    EXPECT_EQ(pos, body.size());
    return events;
  }
  static std::string ChatRequestBytes(const json& body, const std::string& extra_headers = "") {
    const std::string text = body.dump();
    return "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           "Content-Type: application/json\r\nContent-Length: " +
           std::to_string(text.size()) + "\r\n" + extra_headers + "\r\n" + text;
  }
  template <class F>
  static bool WaitFor(F&& done, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > end) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  FakeEngineClient engine_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  int port_ = 0;
  FILE* log_ = nullptr;
};

}  // namespace qwenvl::server::testing
