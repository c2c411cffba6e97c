// `qwenvl serve`: the OpenAI-compatible HTTP server (cpp-httplib).
//   POST /v1/chat/completions   chat, whole or streamed (SSE)
//   GET  /v1/models             the served model
//   GET  /health                {"status": "ok"}
//   GET  /metrics               Prometheus text
//   GET  /                      the built-in web page (index.html, app.js, style.css)
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "server/backend.h"
#include "server/metrics.h"
#include "server/openai_schema.h"

namespace qwenvl::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                      // 0: an ephemeral port (see Bind)
  std::string api_key;                  // empty: no authentication
  int64_t max_body_bytes = 64LL << 20;  // larger bodies get 413
  int http_threads = 0;                 // 0: enough for the engine's queue plus slack
  int max_media_items = 16;
  int64_t max_image_pixels = 16384LL * 28 * 28;
  bool allow_local_files = false;
  bool allow_remote_urls = false;
  int64_t max_remote_bytes = 32LL << 20;
};

class HttpServer {
 public:
  HttpServer(Backend& backend, ServerOptions options);
  ~HttpServer();  // stops listening, cancels running requests and waits for them
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the socket; returns the port (the chosen one when options.port is 0). Throws Error(kIo).
  int Bind();
  // Serves until Stop(); call after Bind().
  void Listen();
  void Stop();
  Metrics& metrics();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace qwenvl::server
