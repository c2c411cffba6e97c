// The qwenvl command: dispatches to one subcommand per file (cmd_*.cc).
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "util/error.h"

int main(int argc, char** argv) {
  CLI::App app{"qwenvl: a native inference engine for Qwen2.5-VL vision-language models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "qwenvl 0.1.0");
  qwenvl::cli::AddTokenizeCommand(app);
  qwenvl::cli::AddTemplateCommand(app);
  qwenvl::cli::AddMakeTestModelCommand(app);
  qwenvl::cli::AddRunCommand(app);
  qwenvl::cli::AddChatCommand(app);
  qwenvl::cli::AddReplayCommand(app);
  qwenvl::cli::AddPreprocessCommand(app);
  qwenvl::cli::AddBenchCommand(app);
  qwenvl::cli::AddServeCommand(app);
  qwenvl::cli::AddGrammarCommand(app);
  qwenvl::cli::AddPullCommand(app);
  qwenvl::cli::AddListCommand(app);
  qwenvl::cli::AddRmCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const qwenvl::Error& e) {
    std::fprintf(stderr, "qwenvl: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qwenvl: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
