// qwenvl make-test-model --preset tiny|small|3b|7b|32b-shape|72b-shape OUT_DIR: a deterministic
// random checkpoint.
#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "io/test_checkpoint.h"

namespace qwenvl::cli {

void AddMakeTestModelCommand(CLI::App& app) {
  struct Args {
    std::string preset = "tiny";
    std::string out_dir;
    std::string data_dir = QWENVL_DATA_DIR "/qwen2.5-vl-3b-instruct";
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "make-test-model",
      "Write a deterministic random-weight model folder in the published layout");
  const char* preset_help =
      "tiny | small (the fixture checkpoints) | 3b | 7b (the published sizes) | 32b-shape | "
      "72b-shape (the published 32B / 72B widths, text and vision, with 2 decoder layers and 4 "
      "vision blocks)";
  cmd->add_option("--preset", args->preset, preset_help)
      ->check(CLI::IsMember(io::TestModelPresetNames()));
  cmd->add_option("OUT_DIR", args->out_dir, "Folder to write")->required();
  cmd->add_option("--data", args->data_dir,
                  "Folder with the 3B-Instruct tokenizer, template and config files");
  cmd->callback([args] {
    const auto start = std::chrono::steady_clock::now();
    io::WriteTestModel(io::GetTestModelPreset(args->preset), args->out_dir, args->data_dir);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "wrote the %s test model to %s in %.1f s\n", args->preset.c_str(),
                 args->out_dir.c_str(), s);
  });
}

}  // namespace qwenvl::cli
