// qwenvl serve -m DIR: the OpenAI- and ollama-compatible HTTP server and its web page
// (src/server/).
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>

#include "cli/commands.h"
#include "cli/run_options.h"
#include "server/http_server.h"
#include "server/loading_engine_client.h"

namespace qwenvl::cli {
namespace {

// Each connection is a descriptor: let the process open as many as its hard limit allows, so the
// server's own connection limit, not the soft limit, decides when clients are refused.
void RaiseDescriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// The server listens while the model loads (its /health says "loading"); the "listening on" line
// that scripts wait for is printed once it is both bound and loaded, whichever comes last.
struct Startup {
  std::mutex mu;
  server::HttpServer* http = nullptr;
  std::string address;  // set once bound
  bool loaded = false;
  std::exception_ptr failure;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

  void AnnounceIfReady() {  // with mu held
    if (!loaded || address.empty()) return;
    std::printf("qwenvl serve: listening on %s\n", address.c_str());
    std::fflush(stdout);
  }
};

}  // namespace

void AddServeCommand(CLI::App& app) {
  struct Args {
    ModelOptions model;
    server::ServerOptions server;
    int parallel = 4;
    int queued = 64;
    std::string media_root;
    std::string log_format = "text";
    double idle_s = 30, header_s = 10, body_s = 60, write_s = 30, shutdown_s = 30, fetch_s = 20;
    double drain_delay_s = 0;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd =
      app.add_subcommand("serve", "Serve the model over OpenAI- and ollama-compatible HTTP APIs");
  AddModelOptions(cmd, args->model);
  auto& s = args->server;
  const auto seconds = CLI::Range(0.001, 86400.0);
  cmd->add_option("--host", s.host, "Address to listen on");
  cmd->add_option("--port", s.port, "TCP port (0: any free port, printed at start)")
      ->check(CLI::Range(0, 65535));
  cmd->add_flag("--reuse-port", s.reuse_port,
                "Share the port with other servers (SO_REUSEPORT); otherwise a port in use is an "
                "error");
  cmd->add_option("--parallel", args->parallel, "Requests decoded together")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--queue", args->queued, "Requests allowed to wait beyond --parallel (then 429)")
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--served-model-name", s.served_model_names,
                  "Name the model answers to in requests' \"model\" (repeatable; the first is "
                  "the one reported). Without it, any name is accepted and the folder's name is "
                  "reported")
      ->type_name("NAME")
      ->take_all();
  cmd->add_option("--api-key", s.api_key,
                  "Require 'Authorization: Bearer KEY' on /v1/*, /api/* and /metrics");
  cmd->add_flag("--metrics-public", s.metrics_public, "Serve /metrics without the API key");
  cmd->add_option("--cors-origin", s.cors_origin,
                  "Let web pages of this origin call the API from a browser ('*': any origin)");
  cmd->add_option("--allow-local-files,--media-root", args->media_root,
                  "Accept file:// URLs and absolute paths of regular files under DIR")
      ->type_name("DIR")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--max-local-bytes", s.max_local_bytes, "Largest local media file")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_flag("--allow-remote-urls", s.allow_remote_urls,
                "Fetch http(s):// image and video URLs (public addresses only)");
  cmd->add_flag("--allow-private-urls", s.allow_private_urls,
                "Let remote URLs reach loopback, private and link-local addresses");
  cmd->add_option("--max-remote-bytes", s.max_remote_bytes, "Largest remote media download")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--fetch-timeout", args->fetch_s,
                  "Seconds for one remote fetch, redirects "
                  "included")
      ->check(seconds);
  cmd->add_option("--max-body-bytes", s.max_body_bytes, "Largest request body (413 above)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--max-images", s.max_media_items, "Most images and videos per request")
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--max-connections", s.max_connections,
                  "Open connections (past it: 503 and close)")
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--idle-timeout", args->idle_s, "Seconds a kept-alive connection may sit idle")
      ->check(seconds);
  cmd->add_option("--header-timeout", args->header_s,
                  "Seconds from a request's first byte to the end of its headers")
      ->check(seconds);
  cmd->add_option("--body-timeout", args->body_s, "Seconds for a request's whole body")
      ->check(seconds);
  cmd->add_option("--write-timeout", args->write_s,
                  "Seconds a write may wait on a client that does not read")
      ->check(seconds);
  cmd->add_option("--shutdown-timeout", args->shutdown_s,
                  "Seconds a SIGTERM lets running requests finish")
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--drain-delay", args->drain_delay_s,
                  "Seconds a SIGTERM first only turns /health to 503 \"draining\" while serving "
                  "as usual, so that load balancers stop routing here before the port closes")
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--instance-name", s.instance_name,
                  "Name of this replica, sent in an X-Qwenvl-Instance header and in /health")
      ->type_name("NAME");
  cmd->add_option("--log-format", args->log_format, "Request log on stderr: text or json")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->callback([args] {
    EngineOptions options = args->model.ToEngineOptions();
    options.max_parallel = args->parallel;
    options.max_queued = args->queued;
    auto& so = args->server;
    const auto ms = [](double seconds) {
      return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0));
    };
    so.idle_timeout = ms(args->idle_s);
    so.header_timeout = ms(args->header_s);
    so.body_timeout = ms(args->body_s);
    so.write_timeout = ms(args->write_s);
    so.shutdown_timeout = ms(args->shutdown_s);
    so.drain_delay = ms(args->drain_delay_s);
    so.fetch_timeout = ms(args->fetch_s);
    so.media_root = args->media_root;
    so.log_format =
        args->log_format == "json" ? server::LogFormat::kJson : server::LogFormat::kText;
    so.handle_signals = true;
    signal(SIGPIPE, SIG_IGN);  // a client that goes away must not kill the server
    RaiseDescriptorLimit();
    server::CheckCanListen(so);  // bad options and a port in use are reported before loading
    std::fprintf(stderr, "loading %s ...\n", options.model_dir.c_str());
    auto startup = std::make_shared<Startup>();
    server::LoadingEngineClient client(options, [startup](std::exception_ptr failure) {
      std::lock_guard lock(startup->mu);
      startup->failure = failure;
      if (failure) {
        if (startup->http) startup->http->Stop();
        return;
      }
      startup->loaded = true;
      std::fprintf(
          stderr, "loaded in %.1f s\n",
          std::chrono::duration<double>(std::chrono::steady_clock::now() - startup->start).count());
      startup->AnnounceIfReady();
    });
    server::HttpServer http(client, so);
    const int port = http.Bind();
    {
      std::lock_guard lock(startup->mu);
      if (startup->failure) std::rethrow_exception(startup->failure);
      startup->http = &http;
      startup->address = "http://" + so.host + ":" + std::to_string(port);
      startup->AnnounceIfReady();
    }
    http.Listen();
    {
      std::lock_guard lock(startup->mu);
      startup->http = nullptr;
      if (startup->failure) std::rethrow_exception(startup->failure);
    }
    std::fprintf(stderr, "qwenvl serve: stopped\n");
  });
}

}  // namespace qwenvl::cli
