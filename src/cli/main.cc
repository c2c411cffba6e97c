// The qwenvl command: dispatches to one subcommand per file (cmd_*.cc).
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "util/error.h"

int main(int argc, char** argv) {
  CLI::App app{"qwenvl: a native inference engine for Qwen2.5-VL vision-language models", "qwenvl"};
  app.require_subcommand(1);
  // Every option's default shows in --help (options registered later inherit this).
  app.option_defaults()->always_capture_default();
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
  if (argc <= 1) {  // bare `qwenvl`: the commands, as --help shows them
    std::printf("%s", app.help().c_str());
    return 0;
  }
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
