// `qwenvl serve`: the OpenAI-compatible HTTP/1.1 server (Boost.Beast on one Asio event loop).
//   POST /v1/chat/completions   chat, whole or streamed (SSE)
//   POST /v1/completions        text completions of raw prompts (no chat template)
//   GET  /v1/models             the served model, under each of its names
//   GET  /v1/models/{id}        one of them
//   POST /tokenize, /detokenize, /apply-template   the tokenizer and template (token_endpoints.h)
//   GET  /health                {"status": "ok"}; 503 "loading" until the model is loaded and
//                               "draining" from a SIGTERM on (load balancers stop routing here)
//   GET  /metrics               Prometheus text (behind the API key when one is set)
//   GET  /                      the built-in web page (index.html, app.js, style.css)
//   /api/...                    ollama's API: chat, generate, tags, show, ps, version
//                               (ollama_handler.h)
//
// Every connection is a coroutine on one event-loop thread: a slow or idle client costs a socket
// and a little memory, never a thread. Reading a request has deadlines (first byte, header, body),
// the number of connections is capped, bodies are capped in every transfer encoding, and a drain
// (SIGTERM) stops accepting, lets running requests finish for a while, then ends them cleanly.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "server/engine_client.h"
#include "server/metrics.h"

namespace qwenvl::server {

enum class LogFormat { kText, kJson };

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: an ephemeral port (see Bind)
  bool reuse_port =
      false;            // SO_REUSEPORT: several servers share the port (off: in use is an error)
  std::string api_key;  // empty: no authentication
  // The names clients may give as "model"; the first is the one the server reports. Empty: any
  // name is accepted and the model folder's name is reported.
  std::vector<std::string> served_model_names;
  bool metrics_public = false;  // /metrics without the API key
  // Cross-origin browser access: empty = none (requests carrying a foreign Origin get 403);
  // an origin such as "https://app.example.com", or "*" for any.
  std::string cors_origin;

  int64_t max_body_bytes = 64LL << 20;  // larger bodies get 413, whatever the transfer encoding
  int64_t max_header_bytes = 16 << 10;  // request line and headers (431 above)
  int max_connections = 256;            // open connections; past it a 503 and close
  std::chrono::milliseconds idle_timeout{30000};      // a kept-alive connection waits this long
  std::chrono::milliseconds header_timeout{10000};    // first byte to the end of the headers
  std::chrono::milliseconds body_timeout{60000};      // the whole body
  std::chrono::milliseconds write_timeout{30000};     // each write to a client that stopped reading
  std::chrono::milliseconds shutdown_timeout{30000};  // a drain lets running requests finish
  int parse_threads = 4;  // request parsing (base64, remote fetches) off the event loop

  int max_media_items = 16;
  int64_t max_image_pixels = 16384LL * 28 * 28;
  // Local media files: only regular files under this directory (empty: local files refused).
  std::filesystem::path media_root;
  bool allow_remote_urls = false;
  bool allow_private_urls = false;  // remote URLs may name loopback/private/link-local addresses
  int64_t max_remote_bytes = 32LL << 20;
  int64_t max_local_bytes = 256LL << 20;
  std::chrono::milliseconds fetch_timeout{20000};  // one remote fetch, redirects included

  // Named in an X-Qwenvl-Instance header on every response and in /health: which replica behind a
  // load balancer answered. Empty: no header.
  std::string instance_name;
  // A drain first only turns /health to 503 "draining" (and keep-alive off) for this long while
  // serving as usual, so that load balancers polling /health stop sending requests before the
  // listening socket closes.
  std::chrono::milliseconds drain_delay{0};

  bool handle_signals = false;  // SIGTERM/SIGINT drain (a second one stops at once)
  FILE* log_file = stderr;      // one line per request; nullptr: no log
  LogFormat log_format = LogFormat::kText;
};

// Binds and releases the server's address: a port in use is found before a long model load.
// Throws Error(kIo) as HttpServer::Bind does.
void CheckCanListen(const ServerOptions& options);

class HttpServer {
 public:
  // Throws Error(kInvalidArgument) on out-of-range options.
  HttpServer(EngineClient& engine, ServerOptions options);
  ~HttpServer();  // stops, cancels running requests and waits (bounded) for the engine
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; returns the port (the chosen one when options.port is 0). Throws
  // Error(kIo) naming the address when it is in use or cannot be bound.
  int Bind();
  // Serves until stopped or drained; call after Bind().
  void Listen();
  // Graceful: after options.drain_delay (health "draining", still serving), stop accepting, 503
  // for queued requests, running ones finish within
  // shutdown_timeout, then each is ended with an error; Listen returns once all connections closed.
  // Thread-safe.
  void Drain();
  // Immediate: Listen returns at once. Thread-safe.
  void Stop();
  Metrics& metrics();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace qwenvl::server
