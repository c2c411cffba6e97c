// The server's event loop: one thread runs every connection's coroutine (reading requests with
// deadlines, routing, writing responses and streams), a small pool parses request bodies, and the
// engine runs requests on its own threads. Keeping to one loop thread means the connection table,
// the live-request set and the drain state need no locks.
#include "server/http_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/url/pct_string_view.hpp>
#include <chrono>
#include <cmath>
#include <ctime>
#include <list>
#include <thread>

#include "server/api_error.h"
#include "server/chat_handler.h"
#include "server/completion_handler.h"
#include "server/generation_schema.h"
#include "server/media_source.h"
#include "server/ollama_handler.h"
#include "server/ollama_response.h"
#include "server/openai_response.h"
#include "server/request_policy.h"
#include "server/token_endpoints.h"
#include "server/url_fetch.h"
#include "server/web_assets.h"

namespace qwenvl::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using nlohmann::json;

namespace {

constexpr auto kNoThrow = net::as_tuple(net::use_awaitable);
constexpr std::string_view kChatPath = "/v1/chat/completions";
constexpr std::string_view kCompletionsPath = "/v1/completions";
constexpr std::string_view kModelsPath = "/v1/models";
// llama-server's tokenizer endpoints, beside the OpenAI API.
constexpr std::string_view kTokenizePath = "/tokenize";
constexpr std::string_view kDetokenizePath = "/detokenize";
constexpr std::string_view kApplyTemplatePath = "/apply-template";

// The routes that run the model: their requests are counted by status in the metrics.
bool IsGenerationPath(std::string_view path) {
  return path == kChatPath || path == kCompletionsPath || path == "/api/chat" ||
         path == "/api/generate";
}
// The routes that take a JSON body, as application/json (ollama's /api/ takes any type).
bool IsJsonPostPath(std::string_view path) {
  return path == kChatPath || path == kCompletionsPath || path == kTokenizePath ||
         path == kDetokenizePath || path == kApplyTemplatePath;
}
// After a drain's deadline has ended the running requests, connections get this long to flush.
constexpr auto kDrainFlush = std::chrono::seconds(5);
// Refusals of connections past the limit in flight at once; beyond, a socket is just closed.
constexpr int kMaxRefusing = 64;
// A closing connection reads what the client still sends for this long, up to this much.
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr int64_t kLingerBytes = 8 << 20;

void CheckOptions(const ServerOptions& o) {
  auto check = [](bool ok, const std::string& what) {
    if (!ok) throw Error(ErrorCode::kInvalidArgument, "server option " + what);
  };
  check(o.port >= 0 && o.port <= 65535, "port must be in 0..65535, got " + std::to_string(o.port));
  check(o.max_body_bytes > 0, "max body bytes must be positive");
  check(o.max_header_bytes >= 1024 && o.max_header_bytes <= (1 << 24),
        "max header bytes must be in 1 KiB..16 MiB");
  check(o.max_connections >= 1 && o.max_connections <= 1000000,
        "max connections must be in 1..1000000");
  check(o.parse_threads >= 1 && o.parse_threads <= 256, "parse threads must be in 1..256");
  for (const auto& [t, name] : {std::pair{o.idle_timeout, "idle timeout"},
                                {o.header_timeout, "header timeout"},
                                {o.body_timeout, "body timeout"},
                                {o.write_timeout, "write timeout"},
                                {o.fetch_timeout, "fetch timeout"}}) {
    check(t.count() > 0, std::string(name) + " must be positive");
  }
  check(o.shutdown_timeout.count() >= 0, "shutdown timeout must not be negative");
  check(o.drain_delay.count() >= 0, "drain delay must not be negative");
  // It travels in a response header: visible ASCII only, bounded.
  check(o.instance_name.size() <= 253 && std::all_of(o.instance_name.begin(), o.instance_name.end(),
                                                     [](char c) { return c > 0x20 && c < 0x7f; }),
        "instance name must be at most 253 visible ASCII characters (no spaces)");
  check(o.max_media_items >= 0, "max media items must not be negative");
  for (const std::string& name : o.served_model_names) {
    check(!name.empty(), "served model names must not be empty");
  }
}

std::string Iso8601Now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

// The path of a request target, without the query.
std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

// Lingering close: the client may still be sending (a body the server refused to read); closing
// with unread bytes would reset the connection and could destroy the answer before the client
// read it. Read and discard for a moment first.
net::awaitable<void> LingerClose(beast::tcp_stream& stream) {
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.expires_after(kLingerTime);
  std::array<char, 16384> discard;
  for (int64_t total = 0; total < kLingerBytes;) {
    auto [ec, n] = co_await stream.async_read_some(net::buffer(discard), kNoThrow);
    if (ec) break;
    total += static_cast<int64_t>(n);
  }
  stream.close();
}

}  // namespace

struct HttpServer::Impl {
  Impl(EngineClient& b, ServerOptions o)
      : engine(b), options(std::move(o)), chat{b, metrics, {}, {}, {}, false, {}} {}

  // One open connection, for the limit and for the drain.
  struct Connection {
    beast::tcp_stream* stream = nullptr;
    bool busy = false;  // between a request's first byte and the end of its response
  };

  net::awaitable<void> Accept();
  net::awaitable<void> Serve(tcp::socket socket);
  net::awaitable<void> Refuse(tcp::socket socket);
  net::awaitable<void> Route(HttpExchange& ex);
  // Header-only checks, before the body is read: nothing is read that would be refused anyway.
  std::optional<ApiError> Admit(const HttpExchange::Request& req) const;
  bool OriginAllowed(const HttpExchange::Request& req) const;
  // The names /v1/models lists: the served names, or the model folder's name.
  std::vector<std::string> ServedNames() const;
  // GET /v1/models/{id}, the id percent-decoded (clients escape the '/' of "org/name").
  net::awaitable<void> SendModel(HttpExchange& ex, std::string_view escaped_id);
  void AddCommonHeaders(const HttpExchange::Request& req, http::fields& fields) const;
  void Log(const AccessRecord& r) const;
  void BeginDrain();
  void CloseForDrain();  // the drain proper, after the drain delay
  void HardStop();
  void WatchSignals();
  void ConnectionClosed(std::list<Connection>::iterator it);

  // Declared first, destroyed last: the coroutine frames the loop destroys still refer to them.
  EngineClient& engine;
  ServerOptions options;
  Metrics metrics;
  ChatContext chat;
  std::list<Connection> connections;
  int refusing = 0;
  bool draining = false;
  bool announced_drain = false;  // /health says "draining" (from the drain's start, delay included)
  uint64_t next_id = 0;
  int64_t started = 0;  // Unix seconds, the "created" of /v1/models

  net::io_context io{1};
  net::thread_pool parse_pool;
  tcp::acceptor acceptor{io};
  net::signal_set signals{io};
  net::steady_timer drain_timer{io};
};

bool HttpServer::Impl::OriginAllowed(const HttpExchange::Request& req) const {
  const auto origin = req.find(http::field::origin);
  if (origin == req.end()) return true;  // not a browser's cross-origin request
  return OriginMatches(origin->value(), req[http::field::host], options.cors_origin);
}

std::vector<std::string> HttpServer::Impl::ServedNames() const {
  if (options.served_model_names.empty()) return {engine.model_name()};
  return options.served_model_names;
}

// With served names, an id is known when it is one of them. Without, the server answers to any
// name (as its generation endpoints do), so every id is reported as served, under that id.
net::awaitable<void> HttpServer::Impl::SendModel(HttpExchange& ex, std::string_view escaped_id) {
  const auto decoded = boost::urls::make_pct_string_view(escaped_id);
  if (!decoded || decoded->empty()) {
    co_await ex.SendError(
        ApiError(400, "malformed model id in the path", "model", "invalid_value"));
    co_return;
  }
  const std::string id = decoded->decode();
  if (!ModelAccepted(id, chat.schema)) {
    co_await ex.SendError(ApiError(404,
                                   "The model '" + id + "' does not exist; this server serves '" +
                                       chat.schema.model_name + "'",
                                   "model", "model_not_found"));
    co_return;
  }
  co_await ex.SendJson(200, ModelJson(id, engine.model_name(), engine.context_length(), started));
}

void HttpServer::Impl::AddCommonHeaders(const HttpExchange::Request& req,
                                        http::fields& fields) const {
  fields.set(http::field::server, "qwenvl");
  if (!options.instance_name.empty()) fields.set("X-Qwenvl-Instance", options.instance_name);
  // Clients that reuse connections learn when the server will close an idle one, and stop reusing
  // it a little before: a request sent just as the server closes would otherwise be lost.
  fields.set(http::field::keep_alive, "timeout=" + std::to_string(std::max<int64_t>(
                                                       1, options.idle_timeout.count() / 1000)));
  const auto origin = req.find(http::field::origin);
  if (options.cors_origin.empty() || origin == req.end()) return;
  if (!OriginMatches(origin->value(), "", options.cors_origin)) return;
  fields.set(http::field::access_control_allow_origin,
             options.cors_origin == "*" ? std::string("*") : std::string(origin->value()));
  fields.set(http::field::vary, "Origin");
}

std::optional<ApiError> HttpServer::Impl::Admit(const HttpExchange::Request& req) const {
  const std::string_view path = PathOf(req.target());
  if (!OriginAllowed(req)) {
    return ApiError(403,
                    "cross-origin requests are not allowed; start the server with --cors-origin "
                    "ORIGIN to allow a web application",
                    "", "origin_not_allowed", "permission_error");
  }
  if (req.method() == http::verb::options) return std::nullopt;
  const bool needs_key = path.starts_with("/v1/") || IsOllamaPath(path) || path == kTokenizePath ||
                         path == kDetokenizePath || path == kApplyTemplatePath ||
                         (path == "/metrics" && !options.metrics_public);
  if (needs_key && !ApiKeyMatches(req[http::field::authorization], options.api_key)) {
    return ApiError(401, "Incorrect API key provided", "", "invalid_api_key");
  }
  if (IsJsonPostPath(path) && req.method() == http::verb::post) {
    if (const auto e = CheckJsonContentType(req[http::field::content_type])) return e;
  }
  if ((IsJsonPostPath(path) || IsOllamaPath(path)) && !engine.ready()) {
    return ApiError(503, "the model is still loading; retry shortly", "", "model_loading",
                    "server_error");
  }
  return std::nullopt;
}

net::awaitable<void> HttpServer::Impl::Route(HttpExchange& ex) {
  const auto& req = ex.request();
  const std::string_view path = PathOf(req.target());
  const http::verb method = req.method();
  if (method == http::verb::options) {
    if (options.cors_origin.empty()) {
      co_await ex.SendError(ApiError(403, "cross-origin requests are not allowed", "",
                                     "origin_not_allowed", "permission_error"));
      co_return;
    }
    HttpExchange::Response res{http::status::no_content, 11};
    res.set(http::field::access_control_allow_headers, "Authorization, Content-Type");
    res.set(http::field::access_control_allow_methods, "GET, POST, OPTIONS");
    res.set(http::field::access_control_max_age, "600");
    co_await ex.Send(std::move(res));
    co_return;
  }
  if (IsOllamaPath(path)) {
    co_await HandleOllama(ex, chat, started);
    co_return;
  }
  if (IsJsonPostPath(path)) {
    if (method != http::verb::post) {
      co_await ex.SendError(
          ApiError(405, "use POST for " + std::string(path), "", "method_not_allowed"));
      co_return;
    }
    if (path == kChatPath) {
      co_await HandleChatCompletion(ex, chat);
    } else if (path == kCompletionsPath) {
      co_await HandleTextCompletion(ex, chat);
    } else if (path == kTokenizePath) {
      co_await HandleTokenize(ex, chat);
    } else if (path == kDetokenizePath) {
      co_await HandleDetokenize(ex, chat);
    } else {
      co_await HandleApplyTemplate(ex, chat);
    }
    co_return;
  }
  const bool model_path = path.starts_with(std::string(kModelsPath) + "/");
  if (method != http::verb::get && method != http::verb::head) {
    co_await ex.SendError(ApiError(
        path == kModelsPath || model_path || path == "/health" || path == "/metrics" ? 405 : 404,
        "no route for " + std::string(req.method_string()) + " " + std::string(path), "",
        "not_found"));
    co_return;
  }
  if (path == kModelsPath) {
    co_await ex.SendJson(
        200, ModelsJson(ServedNames(), engine.model_name(), engine.context_length(), started));
  } else if (model_path) {
    co_await SendModel(ex, path.substr(kModelsPath.size() + 1));
  } else if (path == "/health") {
    const char* status = announced_drain ? "draining" : !engine.ready() ? "loading" : "ok";
    json body = {{"status", status},
                 {"model", chat.schema.model_name},
                 {"active_requests", metrics.active()},
                 {"queue_length", metrics.waiting()}};
    if (!options.instance_name.empty()) body["instance"] = options.instance_name;
    co_await ex.SendJson(std::string_view(status) == "ok" ? 200 : 503, body);
  } else if (path == "/metrics") {
    HttpExchange::Response res{http::status::ok, 11};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = metrics.Render(engine.stats(), chat.schema.model_name);
    co_await ex.Send(std::move(res));
  } else if (WebAsset asset; FindWebAsset(path, asset)) {
    HttpExchange::Response res{http::status::ok, 11};
    res.set(http::field::content_type, asset.content_type);
    res.body() = std::string(asset.body);
    co_await ex.Send(std::move(res));
  } else {
    co_await ex.SendError(ApiError(404, "no route for GET " + std::string(path), "", "not_found"));
  }
}

void HttpServer::Impl::Log(const AccessRecord& r) const {
  if (options.log_file == nullptr) return;
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - r.start).count();
  std::string line;
  if (options.log_format == LogFormat::kJson) {
    json j = {{"time", Iso8601Now()},
              {"id", r.id},
              {"client", r.client},
              {"method", r.method},
              {"path", r.target},
              {"status", r.status},
              {"ms", std::round(ms * 10) / 10}};
    if (r.prompt_tokens >= 0) {
      j["prompt_tokens"] = r.prompt_tokens;
      j["completion_tokens"] = r.completion_tokens;
      j["cached_tokens"] = r.cached_tokens;
    }
    line = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  } else {
    char timing[64];
    std::snprintf(timing, sizeof(timing), " ms=%.1f", ms);
    line = Iso8601Now() + " req=" + std::to_string(r.id) + " client=" + r.client + " " + r.method +
           " " + r.target + " " + std::to_string(r.status);
    if (r.prompt_tokens >= 0) {
      line += " prompt=" + std::to_string(r.prompt_tokens) +
              " completion=" + std::to_string(r.completion_tokens) +
              " cached=" + std::to_string(r.cached_tokens);
    }
    line += std::string(timing) + "\n";
  }
  std::fwrite(line.data(), 1, line.size(), options.log_file);
  std::fflush(options.log_file);
}

net::awaitable<void> HttpServer::Impl::Accept() {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kNoThrow);
    if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors or a connection reset before it was accepted: pause, go on.
      net::steady_timer pause(io, std::chrono::milliseconds(50));
      co_await pause.async_wait(kNoThrow);
      continue;
    }
    if (static_cast<int>(connections.size()) >= options.max_connections) {
      if (refusing < kMaxRefusing) net::co_spawn(io, Refuse(std::move(socket)), net::detached);
      continue;  // else the socket closes here
    }
    net::co_spawn(io, Serve(std::move(socket)), net::detached);
  }
}

net::awaitable<void> HttpServer::Impl::Refuse(tcp::socket socket) {
  ++refusing;
  const std::string body = ApiError(503,
                                    "too many connections (the server holds at most " +
                                        std::to_string(options.max_connections) + "); retry later",
                                    "", "too_many_connections", "server_error")
                               .ToJson()
                               .dump();
  const std::string response =
      "HTTP/1.1 503 Service Unavailable\r\nServer: qwenvl\r\n"
      "Content-Type: application/json\r\nRetry-After: 1\r\n"
      "Connection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(std::chrono::seconds(2));
  co_await net::async_write(stream, net::buffer(response), kNoThrow);
  co_await LingerClose(stream);
  --refusing;
}

void HttpServer::Impl::ConnectionClosed(std::list<Connection>::iterator it) {
  connections.erase(it);
  if (draining && connections.empty()) io.stop();
}

net::awaitable<void> HttpServer::Impl::Serve(tcp::socket socket) {
  std::string client;
  {
    beast::error_code ec;
    const auto peer = socket.remote_endpoint(ec);
    if (!ec) {
      client = peer.address().to_string() + ":" + std::to_string(peer.port());
    }
  }
  beast::tcp_stream stream(std::move(socket));
  const auto self = connections.insert(connections.end(), Connection{&stream, false});
  struct Unlist {
    Impl& impl;
    std::list<Connection>::iterator it;
    ~Unlist() { impl.ConnectionClosed(it); }
  } unlist{*this, self};

  beast::flat_buffer buffer;
  for (;;) {
    self->busy = false;
    if (draining) break;
    if (buffer.size() == 0) {  // idle until the next request's first byte
      stream.expires_after(options.idle_timeout);
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kNoThrow);
      if (ec) break;  // closed by the client, idle too long, or the drain
      buffer.commit(n);
    }
    self->busy = true;
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
    parser.body_limit(static_cast<std::uint64_t>(options.max_body_bytes));
    AccessRecord record;
    record.id = ++next_id;
    record.client = client;
    stream.expires_after(options.header_timeout);
    auto [header_ec, header_n] = co_await http::async_read_header(stream, buffer, parser, kNoThrow);
    auto& req = parser.get();
    if (!req.target().empty()) {  // the request line was read, even if what followed was refused
      record.method = std::string(req.method_string());
      record.target = std::string(req.target().substr(0, 256));
    }
    auto decorate = [this, &req](http::fields& f) { AddCommonHeaders(req, f); };
    HttpExchange ex(stream, req, record, decorate, options.write_timeout, false);
    // ollama's clients read its error shape, also for what is refused before routing.
    const bool ollama = IsOllamaPath(PathOf(req.target()));
    if (ollama) ex.set_error_body(OllamaErrorJson);
    // A request the server will not read to its end gets its answer and the connection closes.
    auto refuse = [&](const ApiError& e) -> net::awaitable<void> {
      co_await ex.SendError(e);
      if (IsGenerationPath(PathOf(record.target))) metrics.CountRequest(e.status());
      Log(record);
    };
    if (header_ec) {
      if (header_ec == http::error::end_of_stream || header_ec == net::error::eof) break;
      if (header_ec == beast::error::timeout) {
        // The stream closed the socket at its deadline: nothing more can be written.
        record.status = 408;
        Log(record);
      } else if (header_ec == http::error::header_limit) {
        co_await refuse(ApiError(431,
                                 "the request headers are larger than " +
                                     std::to_string(options.max_header_bytes) + " bytes",
                                 "", "headers_too_large"));
      } else if (header_ec == http::error::body_limit) {
        co_await refuse(BodyTooLarge(options.max_body_bytes));
      } else if (header_ec != net::error::operation_aborted &&
                 header_ec != net::error::connection_reset) {
        co_await refuse(
            ApiError(400, "malformed HTTP request: " + header_ec.message(), "", "bad_request"));
      }
      break;
    }
    if (const auto e = CheckTransferEncoding(req)) {
      co_await refuse(*e);
      break;
    }
    if (const auto e = Admit(req)) {
      co_await refuse(*e);
      break;
    }
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      stream.expires_after(options.write_timeout);
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [ec, n] = co_await net::async_write(stream, net::buffer(kContinue), kNoThrow);
      if (ec) break;
    }
    stream.expires_after(options.body_timeout);
    auto [body_ec, body_n] = co_await http::async_read(stream, buffer, parser, kNoThrow);
    if (body_ec) {
      if (body_ec == http::error::body_limit) {
        co_await refuse(BodyTooLarge(options.max_body_bytes));
      } else if (body_ec == beast::error::timeout) {
        record.status = 408;  // closed at the deadline, as for the headers
        Log(record);
      } else if (body_ec != net::error::operation_aborted && body_ec != net::error::eof &&
                 body_ec != http::error::partial_message &&
                 body_ec != net::error::connection_reset) {
        co_await refuse(
            ApiError(400, "malformed HTTP request body: " + body_ec.message(), "", "bad_request"));
      }
      break;
    }
    stream.expires_never();  // the route sets its own write deadlines
    HttpExchange routed(stream, req, record, decorate, options.write_timeout,
                        req.keep_alive() && !announced_drain);
    if (ollama) routed.set_error_body(OllamaErrorJson);
    co_await Route(routed);
    Log(record);
    if (!routed.keep_alive()) break;
  }
  co_await LingerClose(stream);
}

void HttpServer::Impl::BeginDrain() {
  if (announced_drain) return HardStop();  // a second signal: stop now
  announced_drain = true;
  if (options.drain_delay.count() == 0) return CloseForDrain();
  // Balancers see the 503 at their next health check and stop routing here; meanwhile requests are
  // served, each on a connection that then closes (no idle connection is left to race the close).
  drain_timer.expires_after(options.drain_delay);
  drain_timer.async_wait([this](beast::error_code ec) {
    if (!ec) CloseForDrain();
  });
}

void HttpServer::Impl::CloseForDrain() {
  draining = true;
  chat.draining = true;
  beast::error_code ignored;
  acceptor.close(ignored);
  // Idle connections close now; busy ones after their response (keep-alive is off from here on).
  for (Connection& c : connections) {
    if (!c.busy) c.stream->socket().cancel(ignored);
  }
  RefuseQueued(chat);
  drain_timer.expires_after(options.shutdown_timeout);
  drain_timer.async_wait([this](beast::error_code ec) {
    if (ec) return;
    AbortRunning(chat);
    drain_timer.expires_after(kDrainFlush);
    drain_timer.async_wait([this](beast::error_code ec2) {
      if (!ec2) io.stop();
    });
  });
  if (connections.empty()) io.stop();
}

void HttpServer::Impl::HardStop() {
  CancelAll(chat);
  io.stop();
}

void HttpServer::Impl::WatchSignals() {
  signals.async_wait([this](beast::error_code ec, int signal) {
    if (ec) return;
    if (options.log_file) {
      std::fprintf(options.log_file, "qwenvl serve: %s, %s\n",
                   signal == SIGINT ? "SIGINT" : "SIGTERM",
                   announced_drain ? "stopping now" : "draining");
      std::fflush(options.log_file);
    }
    BeginDrain();
    WatchSignals();
  });
}

HttpServer::HttpServer(EngineClient& engine, ServerOptions options) {
  CheckOptions(options);
  impl_ = std::make_unique<Impl>(engine, std::move(options));
  Impl& s = *impl_;
  s.chat.schema.model_name = s.options.served_model_names.empty()
                                 ? engine.model_name()
                                 : s.options.served_model_names.front();
  s.chat.schema.served_names = s.options.served_model_names;
  // Each choice is one engine request: a request may not ask for more than the queue holds.
  s.chat.schema.max_choices = std::clamp(engine.queue_capacity(), 1, 16);
  s.chat.schema.context_length = engine.context_length();
  s.chat.schema.max_media_items = s.options.max_media_items;
  s.chat.schema.max_image_pixels = s.options.max_image_pixels;
  MediaPolicy& media = s.chat.schema.media;
  if (!s.options.media_root.empty()) {
    try {
      media.local_root = CanonicalMediaRoot(s.options.media_root.string());
    } catch (const std::exception& e) {
      throw Error(ErrorCode::kInvalidArgument, std::string("media root: ") + e.what());
    }
  }
  media.max_local_bytes = s.options.max_local_bytes;
  media.allow_remote_urls = s.options.allow_remote_urls;
  FetchOptions fetch;
  fetch.allow_private_addresses = s.options.allow_private_urls;
  fetch.max_bytes = s.options.max_remote_bytes;
  fetch.timeout = s.options.fetch_timeout;
  media.fetch_url = [fetch](const std::string& url) { return FetchUrl(url, fetch); };
  s.chat.parse_executor = s.parse_pool.get_executor();
  s.chat.loop = std::make_shared<LoopLink>(s.io.get_executor());
  s.started = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
}

HttpServer::~HttpServer() {
  Impl& s = *impl_;
  s.io.stop();
  // Cancel what still runs and wait (bounded) for the engine's callbacks to let go of us.
  CancelAll(s.chat);
  for (int i = 0; i < 500 && s.metrics.active() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  s.chat.loop->Close();
  s.parse_pool.join();
}

namespace {

// Opens, binds and listens on the options' address; returns the bound port.
int OpenAcceptor(net::io_context& io, tcp::acceptor& acceptor, const ServerOptions& o) {
  const std::string where = o.host + ":" + std::to_string(o.port);
  try {
    tcp::resolver resolver(io);
    const auto results = resolver.resolve(o.host, std::to_string(o.port),
                                          tcp::resolver::passive | tcp::resolver::numeric_service);
    const tcp::endpoint endpoint = results.begin()->endpoint();
    acceptor.open(endpoint.protocol());
    // SO_REUSEADDR only lets a restarted server bind while old connections linger in TIME_WAIT;
    // a port another server listens on stays an error unless SO_REUSEPORT is asked for.
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    if (o.reuse_port) {
      const int one = 1;
      if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) !=
          0) {
        throw Error(ErrorCode::kIo, "cannot set SO_REUSEPORT on " + where);
      }
    }
    acceptor.bind(endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
    return acceptor.local_endpoint().port();
  } catch (const boost::system::system_error& e) {
    beast::error_code ignored;
    acceptor.close(ignored);
    const std::string why = e.code() == net::error::address_in_use
                                ? "the port is in use by another program"
                                : e.code().message();
    throw Error(ErrorCode::kIo, "cannot listen on " + where + ": " + why);
  }
}

}  // namespace

void CheckCanListen(const ServerOptions& options) {
  CheckOptions(options);
  if (options.port == 0) return;
  net::io_context io;
  tcp::acceptor acceptor(io);
  OpenAcceptor(io, acceptor, options);
}

int HttpServer::Bind() {
  Impl& s = *impl_;
  s.options.port = OpenAcceptor(s.io, s.acceptor, s.options);
  return s.options.port;
}

void HttpServer::Listen() {
  Impl& s = *impl_;
  if (s.options.handle_signals) {
    s.signals.add(SIGINT);
    s.signals.add(SIGTERM);
    s.WatchSignals();
  }
  net::co_spawn(s.io, s.Accept(), net::detached);
  s.io.run();
}

void HttpServer::Drain() {
  net::post(impl_->io, [s = impl_.get()] { s->BeginDrain(); });
}

void HttpServer::Stop() {
  net::post(impl_->io, [s = impl_.get()] { s->HardStop(); });
  // A loop that is not running yet (or any more) stops too.
  impl_->io.stop();
}

Metrics& HttpServer::metrics() { return impl_->metrics; }

}  // namespace qwenvl::server
