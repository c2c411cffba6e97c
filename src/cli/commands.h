// Each subcommand of the qwenvl command registers itself on the CLI11 app.
// A command's callback throws qwenvl::Error on bad input; main() turns it into a message and exit code.
#pragma once

#include <CLI/CLI.hpp>

namespace qwenvl::cli {

void AddTokenizeCommand(CLI::App& app);
void AddTemplateCommand(CLI::App& app);
void AddMakeTestModelCommand(CLI::App& app);

}  // namespace qwenvl::cli
