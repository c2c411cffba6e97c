#include "server/http_server.h"

#include <httplib.h>

#include <chrono>
#include <thread>

#include "server/api_error.h"
#include "server/chat_handler.h"
#include "server/openai_response.h"
#include "server/web_assets.h"

namespace qwenvl::server {

struct HttpServer::Impl {
  Impl(Backend& b, ServerOptions o)
      : backend(b), options(std::move(o)), chat{b, metrics, SchemaOptions{}, {}, {}} {}

  void Routes();
  bool Authorized(const httplib::Request& req) const;

  Backend& backend;
  ServerOptions options;
  Metrics metrics;
  ChatContext chat;
  httplib::Server http;
  int64_t started = 0;  // Unix seconds, the "created" of /v1/models
};

bool HttpServer::Impl::Authorized(const httplib::Request& req) const {
  if (options.api_key.empty()) return true;
  return req.get_header_value("Authorization") == "Bearer " + options.api_key;
}

void HttpServer::Impl::Routes() {
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    res.set_header("Access-Control-Allow-Origin", "*");
    if (req.path.rfind("/v1/", 0) == 0 && req.method != "OPTIONS" && !Authorized(req)) {
      WriteError(res, 401, "Incorrect API key provided", "invalid_api_key");
      if (req.path == "/v1/chat/completions") metrics.CountRequest(401);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Statuses cpp-httplib produces itself (413, 404, 400 on a bad request line) get an OpenAI body.
  http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || res.content_length_ > 0) return;
    std::string message = "HTTP " + std::to_string(res.status);
    std::string code;
    if (res.status == 413) {
      message = "request body is larger than the limit of " +
                std::to_string(options.max_body_bytes) + " bytes (--max-body-bytes)";
      code = "body_too_large";
    } else if (res.status == 404) {
      message = "no route for " + req.method + " " + req.path;
      code = "not_found";
    }
    const int status = res.status;
    WriteError(res, status, message, code);
    if (req.path == "/v1/chat/completions") metrics.CountRequest(status);
  });
  http.Options(R"(/v1/.*)", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
    res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    res.status = 204;
  });
  http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    HandleChatCompletion(req, res, chat);
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(ModelsJson(backend.model_name(), started).dump(), "application/json");
  });
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    nlohmann::json body = {{"status", "ok"},
                           {"model", backend.model_name()},
                           {"active_requests", metrics.active()},
                           {"queue_length", metrics.waiting()}};
    res.set_content(body.dump(), "application/json");
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http.Get(R"(/([a-z_]+\.(html|js|css))?)",
           [](const httplib::Request& req, httplib::Response& res) {
             WebAsset asset;
             if (!FindWebAsset(req.path, asset)) {
               WriteError(res, 404, "no page " + req.path, "not_found");
               return;
             }
             res.set_content(std::string(asset.body), std::string(asset.content_type).c_str());
           });
}

HttpServer::HttpServer(Backend& backend, ServerOptions options)
    : impl_(std::make_unique<Impl>(backend, std::move(options))) {
  Impl& s = *impl_;
  s.chat.schema.model_name = backend.model_name();
  s.chat.schema.context_length = backend.context_length();
  s.chat.schema.max_media_items = s.options.max_media_items;
  s.chat.schema.max_image_pixels = s.options.max_image_pixels;
  s.chat.schema.media.allow_local_files = s.options.allow_local_files;
  s.chat.schema.media.allow_remote_urls = s.options.allow_remote_urls;
  const int64_t max_remote = s.options.max_remote_bytes;
  s.chat.schema.media.fetch_url = [max_remote](const std::string& url) {
    return FetchHttpUrl(url, max_remote);
  };
  s.started = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  // A streamed answer holds its HTTP thread until it ends: size the pool for every request the
  // engine may hold (running and queued) plus idle keep-alive connections.
  const int threads = s.options.http_threads > 0 ? s.options.http_threads : 96;
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.http.set_payload_max_length(static_cast<size_t>(s.options.max_body_bytes));
  s.http.set_read_timeout(60);
  s.http.set_write_timeout(60);
  s.http.set_keep_alive_timeout(5);
  s.Routes();
}

HttpServer::~HttpServer() {
  Stop();
  // Cancel what still runs and wait (bounded) for the backend's callbacks to let go of us.
  {
    std::lock_guard lock(impl_->chat.mu);
    for (const auto& handle : impl_->chat.running) handle->Cancel();
  }
  for (int i = 0; i < 500 && impl_->metrics.active() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int HttpServer::Bind() {
  Impl& s = *impl_;
  if (s.options.port == 0) {
    const int port = s.http.bind_to_any_port(s.options.host);
    if (port < 0) throw Error(ErrorCode::kIo, "cannot bind to " + s.options.host);
    s.options.port = port;
    return port;
  }
  if (!s.http.bind_to_port(s.options.host, s.options.port)) {
    throw Error(ErrorCode::kIo, "cannot listen on " + s.options.host + ":" +
                                    std::to_string(s.options.port) + " (port in use?)");
  }
  return s.options.port;
}

void HttpServer::Listen() { impl_->http.listen_after_bind(); }

void HttpServer::Stop() {
  if (impl_->http.is_running()) impl_->http.stop();
}

Metrics& HttpServer::metrics() { return impl_->metrics; }

}  // namespace qwenvl::server
