// Each subcommand of the qwenvl command registers itself on the CLI11 app.
// A command's callback throws qwenvl::Error on bad input; main() turns it into a message and exit
// code.
#pragma once

#include <CLI/CLI.hpp>

namespace qwenvl::cli {

void AddTokenizeCommand(CLI::App& app);
void AddTemplateCommand(CLI::App& app);
void AddMakeTestModelCommand(CLI::App& app);
void AddRunCommand(CLI::App& app);
void AddChatCommand(CLI::App& app);
void AddReplayCommand(CLI::App& app);
void AddPreprocessCommand(CLI::App& app);
void AddBenchCommand(CLI::App& app);
void AddServeCommand(CLI::App& app);
void AddGrammarCommand(CLI::App& app);
void AddPullCommand(CLI::App& app);
void AddListCommand(CLI::App& app);
void AddRmCommand(CLI::App& app);

}  // namespace qwenvl::cli
