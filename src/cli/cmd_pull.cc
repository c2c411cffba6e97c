// qwenvl pull ORG/NAME [--revision R] [--include GLOB...]: downloads a model folder from the
// Hugging Face hub into the Hugging Face cache (see src/hub/).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/pull_progress.h"
#include "hub/hub_settings.h"
#include "hub/model_ref.h"
#include "hub/pull.h"
#include "util/error.h"

namespace qwenvl::cli {

void AddPullCommand(CLI::App& app) {
  struct Args {
    std::string model, revision;
    std::vector<std::string> include;
    int jobs = 4;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "pull",
      "Download a model from the Hugging Face hub into its cache (HF_HUB_CACHE, else "
      "$HF_HOME/hub, else ~/.cache/huggingface/hub; HF_ENDPOINT, HF_TOKEN honoured); "
      "interrupted downloads resume");
  cmd->add_option("MODEL", args->model, "ORG/NAME[@REVISION], e.g. Qwen/Qwen2.5-VL-3B-Instruct")
      ->required();
  cmd->add_option("--revision", args->revision, "Branch, tag or commit (default: main)");
  cmd->add_option("--include", args->include,
                  "Only the files matching these globs (e.g. '*.json'); repeatable");
  cmd->add_option("--jobs", args->jobs, "Files downloaded at once (1-16)")
      ->default_val(4)
      ->check(CLI::Range(1, 16));
  cmd->callback([args] {
    hub::ModelRef ref = hub::ParseModelRef(args->model);
    if (!args->revision.empty()) {
      if (!hub::IsValidRevision(args->revision))
        throw Error(ErrorCode::kInvalidArgument, "--revision: '" + args->revision.substr(0, 100) +
                                                     "' is not a branch, tag or commit");
      ref.revision = args->revision;
    }
    const hub::HubSettings settings = hub::SettingsFromEnvironment();
    hub::PullOptions options;
    options.include = args->include;
    options.jobs = args->jobs;
    std::fprintf(stderr, "pulling %s@%s from %s into %s\n", ref.RepoId().c_str(),
                 ref.revision.c_str(), settings.endpoint.c_str(), settings.cache_root.c_str());
    const auto start = std::chrono::steady_clock::now();
    PullProgress progress(stderr, isatty(STDERR_FILENO) != 0);
    hub::PullResult r;
    try {
      r = hub::Pull(settings, ref, options, &progress);
    } catch (...) {
      progress.Finish();
      throw;
    }
    progress.Finish();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "%zu files, %s downloaded in %.1f s (%s/s)\n", r.files,
                 HumanBytes(r.bytes_downloaded).c_str(), seconds,
                 HumanBytes(static_cast<uint64_t>(static_cast<double>(r.bytes_downloaded) /
                                                  std::max(seconds, 1e-3)))
                     .c_str());
    std::printf("%s\n", r.snapshot.c_str());
  });
}

}  // namespace qwenvl::cli
