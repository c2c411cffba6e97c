// qwenvl serve -m DIR: the OpenAI-compatible HTTP server and its web page (src/server/).
#include <signal.h>

#include <cstdio>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "cli/run_options.h"
#include "server/http_server.h"

namespace qwenvl::cli {
namespace {

server::HttpServer* g_server = nullptr;

void OnSignal(int) {
  if (g_server) g_server->Stop();
}

}  // namespace

void AddServeCommand(CLI::App& app) {
  struct Args {
    ModelOptions model;
    server::ServerOptions server;
    int parallel = 4;
    int queued = 64;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve the model over an OpenAI-compatible HTTP API");
  AddModelOptions(cmd, args->model);
  auto& s = args->server;
  cmd->add_option("--host", s.host, "Address to listen on");
  cmd->add_option("--port", s.port, "TCP port (0: any free port, printed at start)");
  cmd->add_option("--parallel", args->parallel, "Requests decoded together")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--queue", args->queued, "Requests allowed to wait beyond --parallel (then 429)");
  cmd->add_option("--api-key", s.api_key, "Require 'Authorization: Bearer KEY' on /v1/*");
  cmd->add_flag("--allow-local-files", s.allow_local_files,
                "Accept file:// URLs and absolute paths in image_url / video_url");
  cmd->add_flag("--allow-remote-urls", s.allow_remote_urls,
                "Fetch http(s):// image and video URLs");
  cmd->add_option("--max-body-bytes", s.max_body_bytes, "Largest request body (413 above)");
  cmd->add_option("--max-images", s.max_media_items, "Most images and videos per request");
  cmd->add_option("--http-threads", s.http_threads, "HTTP worker threads (0: automatic)");
  cmd->callback([args] {
    EngineOptions options = args->model.ToEngineOptions();
    options.max_parallel = args->parallel;
    options.max_queued = args->queued;
    std::fprintf(stderr, "loading %s ...\n", options.model_dir.c_str());
    auto engine = Engine::Load(options);
    std::fprintf(stderr, "loaded %s in %.1f s\n", engine->model_name().c_str(),
                 engine->load_seconds());
    auto backend = server::MakeEngineBackend(std::move(engine));
    auto& so = args->server;
    if (so.http_threads == 0) so.http_threads = args->parallel + args->queued + 16;
    server::HttpServer http(*backend, so);
    const int port = http.Bind();
    // Print the address on stdout (scripts wait for it) and flush before serving.
    std::printf("qwenvl serve: listening on http://%s:%d\n", so.host.c_str(), port);
    std::fflush(stdout);
    g_server = &http;
    signal(SIGINT, OnSignal);
    signal(SIGTERM, OnSignal);
    signal(SIGPIPE, SIG_IGN);  // a client that goes away must not kill the server
    http.Listen();
    g_server = nullptr;
    std::fprintf(stderr, "qwenvl serve: stopped\n");
  });
}

}  // namespace qwenvl::cli
