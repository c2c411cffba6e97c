// `qwenvl replay`: runs a parity case (fixtures README, model/ section) and prints one JSON object
// of errors against the reference.
//   qwenvl replay -m MODEL_DIR --case tiny.image.json [--dump OUT.safetensors] [--threads N]
//                 [--backend cpu|reference] [--tolerance]
// The model comes from -m; the case's model_dir is informational. With --tolerance the exit code
// is 1 when any error is above the fixtures README tolerances (violations go to stderr).
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/model_argument.h"
#include "cli/run_options.h"
#include "compute/backends.h"
#include "model/qwen2_5_vl.h"
#include "model/replay.h"
#include "model/replay_case.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace qwenvl::cli {
namespace {

struct ReplayArgs {
  std::string model_dir;
  std::string case_path;
  std::string dump_path;
  int threads = 0;
  std::string backend = "cpu";
  std::string kernels = "auto";
  int64_t chunk_rows = 256;
  bool tolerance = false;
  std::string kv_type = "f32";  // the fixtures' exact path unless asked
};

void RunReplayCommand(const ReplayArgs& args) {
  const model::ReplayCase c = model::LoadReplayCase(args.case_path);
  ThreadPool pool(args.threads);
  const std::unique_ptr<compute::Backend> backend =
      compute::MakeBackend(args.backend, pool, {.spec = args.kernels, .cache_path = ""});
  const model::Model m(args.model_dir, *backend, {.kv = ParseKvType(args.kv_type)});
  const model::ReplayReport report =
      model::RunReplay(m, c, {.dump_path = args.dump_path, .chunk_rows = args.chunk_rows});
  std::printf("%s\n", report.ToJson().c_str());
  std::fflush(stdout);
  if (!args.tolerance) return;
  const auto violations = model::ToleranceViolations(report);
  for (const std::string& v : violations)
    std::fprintf(stderr, "replay: out of tolerance: %s\n", v.c_str());
  if (!violations.empty()) {
    throw Error(ErrorCode::kOutOfRange,
                c.name + ": " + std::to_string(violations.size()) + " check(s) out of tolerance");
  }
}

}  // namespace

void AddReplayCommand(CLI::App& app) {
  auto args = std::make_shared<ReplayArgs>();
  CLI::App* cmd = app.add_subcommand(
      "replay",
      "Run a reference case (prefill, logits at every position, greedy decoding) and "
      "print its errors against the reference as JSON");
  cmd->add_option("-m,--model", args->model_dir, "Model folder or hub name ORG/NAME[@REV]")
      ->required()
      ->transform(ModelArgument());
  cmd->add_option("--case", args->case_path, "Case file MODEL.CASE.json")->required();
  cmd->add_option("--dump", args->dump_path,
                  "Write our values (reference tensor names, plus greedy_ids) to this safetensors "
                  "file");
  cmd->add_option("--threads", args->threads, "Worker threads (0: one per core)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--backend", args->backend,
                  "Compute backend: cpu, or reference (plain scalar kernels on one thread)")
      ->check(CLI::IsMember(compute::BackendNames()));
  AddKernelsOption(cmd, args->kernels);
  AddKvTypeOption(cmd, args->kv_type, "f32 (the fixtures' exact path)");
  cmd->add_option("--chunk", args->chunk_rows, "Prefill chunk size in tokens")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--tolerance", args->tolerance,
                "Exit with status 1 when an error exceeds the fixtures tolerances (2e-3 logits, "
                "1e-3 relative intermediates, identical greedy ids)");
  cmd->callback([args] { RunReplayCommand(*args); });
}

}  // namespace qwenvl::cli
